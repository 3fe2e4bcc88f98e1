//! The dashboard's charts: a bar per Beijing day, drawn on the server as SVG (plotters),
//! inlined in the page — no script, nothing fetched.

use chrono::NaiveDate;
use plotters::prelude::*;

/// A bar chart of `values` (one per day, oldest first), `label` on the value axis.
pub fn daily_bars(id: &str, days: &[(NaiveDate, f64)], label: &str) -> String {
    let mut svg = String::new();
    let drawn = draw(&mut svg, days, label);
    match drawn {
        // The element's own size goes: the stylesheet makes it as wide as its card.
        Ok(()) => svg.replacen(
            "<svg ",
            &format!("<svg id=\"{id}\" class=\"chart\" role=\"img\" aria-label=\"{label}\" "),
            1,
        ),
        Err(e) => {
            tracing::warn!(error = %e, chart = id, "a dashboard chart could not be drawn");
            String::new()
        }
    }
}

fn draw(
    svg: &mut String,
    days: &[(NaiveDate, f64)],
    label: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let top = days
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1.0)
        * 1.15;
    let n = u32::try_from(days.len()).unwrap_or(u32::MAX).max(1);
    let root = SVGBackend::with_string(svg, (720, 220)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(48)
        .build_cartesian_2d((0u32..n).into_segmented(), 0.0..top)?;
    let label_of = |i: u32| {
        days.get(i as usize)
            .map(|(d, _)| d.format("%m-%d").to_string())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(8)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => label_of(*i),
            SegmentValue::Last => String::new(),
        })
        .y_desc(label)
        .y_labels(5)
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(RGBColor(7, 193, 96).filled())
            .margin(2)
            .data(days.iter().enumerate().map(|(i, (_, v))| (i as u32, *v))),
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_with_a_bar_per_day_and_its_labels() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let days: Vec<_> = (0..3)
            .map(|i| (day + chrono::Duration::days(i), (i + 1) as f64))
            .collect();
        let svg = daily_bars("revenue", &days, "yuan");
        assert!(
            svg.starts_with("<svg id=\"revenue\" class=\"chart\""),
            "{svg}"
        );
        assert!(svg.contains("12-01") && svg.contains("12-03"), "{svg}");
        assert!(svg.matches("fill=\"#07C160\"").count() >= 3, "{svg}");
    }
}
