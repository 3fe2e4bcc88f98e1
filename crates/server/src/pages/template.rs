//! A tiny template filler for the pages' HTML (`{{name}}` placeholders) and HTML escaping.
//!
//! Values are inserted as they are, in one pass (a value containing `{{…}}` is never
//! expanded again): callers pass text through [`escape`] and only trusted markup without it.

use super::assets;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// `template` with each `{{name}}` replaced by its value; an unknown name is a bug in
/// this crate's templates, so it panics (the page tests render every page).
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed placeholder in a template"));
        let name = after[..end].trim();
        let value = values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("no value for template placeholder {name}"));
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

const LAYOUT: &str = include_str!("../../templates/layout.html");

/// One page: the shared layout around `body`, with `data-*` attributes on `<body>` for
/// the page's script (no inline script: the CSP forbids it).
pub struct Page<'a> {
    /// The `<title>` and heading text (escaped here).
    pub title: &'a str,
    /// Which page this is: `data-page`, and the script `/assets/{page}.js`.
    pub name: &'a str,
    /// `data-*` attributes (names are this crate's; values are escaped here).
    pub data: Vec<(&'a str, String)>,
    /// The page's markup (already safe).
    pub body: String,
}

impl Page<'_> {
    /// The whole HTML document.
    pub fn render(&self) -> String {
        let data: String = self
            .data
            .iter()
            .map(|(name, value)| format!(" data-{name}=\"{}\"", escape(value)))
            .collect();
        let version = assets::version();
        let scripts = format!(
            "<script src=\"/assets/common.js?v={version}\" defer></script>\n\
             <script src=\"/assets/markdown.js?v={version}\" defer></script>\n\
             <script src=\"/assets/{name}.js?v={version}\" defer></script>",
            name = escape(self.name)
        );
        fill(
            LAYOUT,
            &[
                ("title", &escape(self.title)),
                ("page", &escape(self.name)),
                ("data", &data),
                ("css", &format!("/assets/app.css?v={version}")),
                ("body", &self.body),
                ("scripts", &scripts),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn placeholders_fill_in_one_pass() {
        assert_eq!(
            fill("<p>{{a}} {{ b }}</p>", &[("a", "{{b}}"), ("b", "2")]),
            "<p>{{b}} 2</p>"
        );
    }

    #[test]
    fn data_attributes_are_escaped() {
        let html = Page {
            title: "<T>",
            name: "mall",
            data: vec![("x", "\"><script>".into())],
            body: String::new(),
        }
        .render();
        assert!(html.contains("data-x=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("<title>&lt;T&gt;"));
        assert!(!html.contains("{{"));
    }
}
