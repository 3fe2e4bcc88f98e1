//! A chat request as the rules accept it: a model name and 1..=[`MAX_MESSAGES`] messages
//! with known roles and bounded sizes. Anything else is refused before quota is touched.

use crate::product::ModelType;

/// The most messages one request may carry.
pub const MAX_MESSAGES: usize = 64;
/// The most characters one message may carry.
pub const MAX_MESSAGE_CHARS: usize = 16_000;
/// The most characters all messages together may carry.
pub const MAX_TOTAL_CHARS: usize = 64_000;

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The wire name (`system`, `user`, `assistant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::System, Self::User, Self::Assistant]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

/// A validated chat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: ModelType,
    pub messages: Vec<ChatMessage>,
    /// The most completion tokens the answer may have: the caller's, lowered by the chat
    /// when the model is billed by the token and the balance pays for fewer.
    pub max_tokens: Option<u32>,
}

/// What OpenAI's chat format adds around each message, and to prime the reply, in tokens.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_TO_PRIME_REPLY: u64 = 3;

/// Why a chat request was refused; each names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatRequestError {
    #[error("model: {0}")]
    Model(#[from] crate::product::ModelTypeError),
    #[error("messages must hold 1 to {MAX_MESSAGES} messages, got {0}")]
    MessageCount(usize),
    #[error("messages[{index}].role must be system, user or assistant, got {role:?}")]
    Role { index: usize, role: String },
    #[error("messages[{index}].content is {chars} characters; at most {MAX_MESSAGE_CHARS}")]
    MessageTooLong { index: usize, chars: usize },
    #[error("the messages hold {0} characters together; at most {MAX_TOTAL_CHARS}")]
    TooLong(usize),
    #[error("the last message must be from the user")]
    LastNotUser,
}

impl ChatRequest {
    /// Validates a model name and `(role, content)` pairs as they came in.
    pub fn parse(model: &str, messages: Vec<(String, String)>) -> Result<Self, ChatRequestError> {
        let model = ModelType::parse(model)?;
        if !(1..=MAX_MESSAGES).contains(&messages.len()) {
            return Err(ChatRequestError::MessageCount(messages.len()));
        }
        let mut total = 0;
        let mut parsed = Vec::with_capacity(messages.len());
        for (index, (role, content)) in messages.into_iter().enumerate() {
            let role = Role::parse(&role).ok_or_else(|| ChatRequestError::Role {
                index,
                role: role.chars().take(40).collect(),
            })?;
            let chars = content.chars().count();
            if chars > MAX_MESSAGE_CHARS {
                return Err(ChatRequestError::MessageTooLong { index, chars });
            }
            total += chars;
            parsed.push(ChatMessage { role, content });
        }
        if total > MAX_TOTAL_CHARS {
            return Err(ChatRequestError::TooLong(total));
        }
        // A model answers the user's last word; a trailing assistant or system message
        // would make the call pointless (and still cost quota).
        if parsed.last().map(|m| m.role) != Some(Role::User) {
            return Err(ChatRequestError::LastNotUser);
        }
        Ok(Self {
            model,
            messages: parsed,
            max_tokens: None,
        })
    }

    /// The request with an answer of at most `max_tokens` (0 is read as 1).
    pub fn with_max_tokens(mut self, max_tokens: Option<u32>) -> Self {
        self.max_tokens = max_tokens.map(|n| n.max(1));
        self
    }

    /// The prompt's tokens as the model will count them, given how many tokens a text is.
    pub fn prompt_tokens(&self, tokens_in: impl Fn(&str) -> u64) -> u64 {
        let contents: u64 = self
            .messages
            .iter()
            .map(|m| tokens_in(&m.content) + tokens_in(m.role.as_str()) + TOKENS_PER_MESSAGE)
            .sum();
        contents + TOKENS_TO_PRIME_REPLY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> (String, String) {
        (role.to_owned(), content.to_owned())
    }

    #[test]
    fn a_plain_conversation_parses() {
        let request =
            ChatRequest::parse("gpt-4o", vec![msg("system", "be brief"), msg("user", "hi")])
                .unwrap();
        assert_eq!(request.model.as_str(), "gpt-4o");
        assert_eq!(request.messages[1].role, Role::User);
        assert_eq!(request.max_tokens, None);
        assert_eq!(request.clone().with_max_tokens(Some(0)).max_tokens, Some(1));
    }

    #[test]
    fn the_prompt_counts_each_message_with_its_role_and_framing() {
        let request =
            ChatRequest::parse("gpt-4o", vec![msg("system", "be brief"), msg("user", "hi")])
                .unwrap();
        // One "token" per character: (8 + 6 + 3) + (2 + 4 + 3) + 3.
        assert_eq!(request.prompt_tokens(|t| t.chars().count() as u64), 29);
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        assert!(matches!(
            ChatRequest::parse("bad model", vec![msg("user", "x")]),
            Err(ChatRequestError::Model(_))
        ));
        assert_eq!(
            ChatRequest::parse("m", vec![]),
            Err(ChatRequestError::MessageCount(0))
        );
        let many = vec![msg("user", "x"); MAX_MESSAGES + 1];
        assert_eq!(
            ChatRequest::parse("m", many),
            Err(ChatRequestError::MessageCount(MAX_MESSAGES + 1))
        );
        assert!(matches!(
            ChatRequest::parse("m", vec![msg("tool", "x")]),
            Err(ChatRequestError::Role { index: 0, .. })
        ));
        let long = "字".repeat(MAX_MESSAGE_CHARS + 1);
        assert!(matches!(
            ChatRequest::parse("m", vec![msg("user", &long)]),
            Err(ChatRequestError::MessageTooLong { index: 0, .. })
        ));
        let big = "x".repeat(MAX_MESSAGE_CHARS);
        assert!(matches!(
            ChatRequest::parse("m", vec![msg("user", &big); 5]),
            Err(ChatRequestError::TooLong(_))
        ));
        assert_eq!(
            ChatRequest::parse("m", vec![msg("user", "q"), msg("assistant", "a")]),
            Err(ChatRequestError::LastNotUser)
        );
    }
}
