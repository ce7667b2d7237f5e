//! JSON-RPC 2.0 on a byte stream, one message per line: reading a line
//! without holding more than [`MAX_MESSAGE`] of it, and the error codes.

use std::io::BufRead;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The largest message read; a longer line is skipped as it streams by,
/// never held whole.
pub const MAX_MESSAGE: usize = 8 << 20;

/// JSON-RPC's error codes.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a JSON-RPC request (or over the size limit).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No method by that name.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The params are not what the method takes; the message names the
    /// field.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The method failed (a root that is not a directory, an unknown
    /// session).
    pub const SERVER_ERROR: i64 = -32000;
}

/// A failed request: its code and one line.
#[derive(Debug)]
pub struct Failure {
    /// One of [`code`]'s.
    pub code: i64,
    /// What was wrong.
    pub message: String,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: i64, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The method failed.
    pub fn server(message: impl std::fmt::Display) -> Failure {
        Failure::new(code::SERVER_ERROR, message.to_string())
    }
}

/// One line read from the stream.
pub enum Read {
    /// A whole line, without its newline.
    Line(Vec<u8>),
    /// A line longer than [`MAX_MESSAGE`], skipped.
    TooLong,
    /// The stream ended.
    End,
}

/// Reads the next line of `input`, keeping at most [`MAX_MESSAGE`] bytes of
/// it.
///
/// # Errors
///
/// Reading failed.
pub fn read_line(input: &mut impl BufRead) -> std::io::Result<Read> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Read::TooLong,
                (false, true) => Read::End,
                (false, false) => Read::Line(line),
            });
        }
        let (part, ended) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        if !too_long && line.len() + part.len() <= MAX_MESSAGE {
            line.extend_from_slice(part);
        } else {
            too_long = true;
            line = Vec::new();
        }
        let used = ended.unwrap_or(buffer.len());
        input.consume(used);
        if ended.is_some() {
            return Ok(if too_long {
                Read::TooLong
            } else {
                Read::Line(line)
            });
        }
    }
}

/// A request as read: its id (`None`: a notification), method and params.
pub struct Request {
    /// What the response carries back.
    pub id: Option<Value>,
    /// The method's name.
    pub method: String,
    /// Its params (`null` when absent).
    pub params: Value,
}

/// Reads `line` as a JSON-RPC request.
///
/// # Errors
///
/// Not JSON (-32700) or not a request (-32600); the id, when one could be
/// read, comes with it.
pub fn parse(line: &[u8]) -> Result<Request, (Option<Value>, Failure)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        (
            None,
            Failure::new(code::PARSE_ERROR, format!("not JSON: {e}")),
        )
    })?;
    let id = value.get("id").cloned();
    let invalid = |why: &str| (id.clone(), Failure::new(code::INVALID_REQUEST, why));
    let Value::Object(mut object) = value else {
        return Err(invalid("a request is a JSON object"));
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid("jsonrpc: must be \"2.0\""));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err(invalid("method: a string is required"));
    };
    if id
        .as_ref()
        .is_some_and(|id| !(id.is_string() || id.is_number()))
    {
        return Err(invalid("id: a string or a number"));
    }
    Ok(Request {
        id,
        method,
        params: object.remove("params").unwrap_or(Value::Null),
    })
}

/// `params` as the method's type; a mismatch names the field (-32602).
///
/// # Errors
///
/// The params are not what `T` takes.
pub fn params<T: DeserializeOwned>(params: Value) -> Result<T, Failure> {
    let params = if params.is_null() { json!({}) } else { params };
    serde_path_to_error::deserialize(params).map_err(|e| {
        let field = e.path().to_string();
        let message = match field.as_str() {
            "." => format!("params: {}", e.inner()),
            _ => format!("params.{field}: {}", e.inner()),
        };
        Failure::new(code::INVALID_PARAMS, message)
    })
}

/// The response to request `id`.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The error response to request `id` (`null` when it could not be read).
pub fn error(id: Option<&Value>, failure: &Failure) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(&Value::Null),
        "error": {"code": failure.code, "message": failure.message},
    })
}

/// A notification.
pub fn notification(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": params})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_skipped_and_the_next_is_read() {
        let mut input = vec![b'x'; MAX_MESSAGE + 10];
        input.extend_from_slice(b"\n{}\n");
        let mut reader = std::io::BufReader::with_capacity(4096, &input[..]);
        assert!(matches!(read_line(&mut reader).unwrap(), Read::TooLong));
        assert!(matches!(read_line(&mut reader).unwrap(), Read::Line(l) if l == b"{}"));
        assert!(matches!(read_line(&mut reader).unwrap(), Read::End));
    }

    #[test]
    fn bad_params_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            root: String,
            timeout_ms: Option<u64>,
        }
        let wrong = params::<P>(json!({"root": "/", "timeout_ms": "soon"})).unwrap_err();
        assert_eq!(wrong.code, code::INVALID_PARAMS);
        assert!(
            wrong.message.starts_with("params.timeout_ms:"),
            "{}",
            wrong.message
        );
        let missing = params::<P>(json!({})).unwrap_err();
        assert!(missing.message.contains("root"), "{}", missing.message);
    }
}
