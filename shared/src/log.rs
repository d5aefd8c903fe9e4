//! Structured logs: one JSON object per line, with an `event` name and plain fields.
//! Callers pass ids, statuses and durations only; tokens, connection strings and
//! upstream bodies never go into a field.

use serde_json::{Map, Value};

/// A log line under construction.
#[derive(Debug, Clone)]
pub struct LogLine(Map<String, Value>);

impl LogLine {
    pub fn new(event: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("event".to_owned(), Value::from(event));
        LogLine(fields)
    }

    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", Value::Object(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_line_is_one_json_object() {
        let line = LogLine::new("request").field("status", 201).field("path", "/create").to_string();

        assert_eq!(line, r#"{"event":"request","path":"/create","status":201}"#);
    }
}
