//! Error text as GNU tools print it: the message without Rust's
//! "(os error N)" suffix.

use std::io;

pub fn describe(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => "No such file or directory".into(),
        io::ErrorKind::PermissionDenied => "Permission denied".into(),
        io::ErrorKind::IsADirectory => "Is a directory".into(),
        io::ErrorKind::DirectoryNotEmpty => "Directory not empty".into(),
        _ => {
            let text = err.to_string();
            text.split(" (os error").next().unwrap_or(&text).to_string()
        }
    }
}
