//! Errors that stop avpctl from doing its job (exit code 2).
//!
//! Findings about the user's policies are [`crate::diagnostic::Diagnostic`]s,
//! not errors: a run collects all of them. An [`Error`] is what prevents a run
//! from going on at all, or makes one input unusable.

use crate::source::Location;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is {size} bytes; avpctl reads files of at most {limit} bytes")]
    FileTooLarge { path: String, size: u64, limit: u64 },

    #[error("{path} is outside the project directory; avpctl reads only files inside the project")]
    OutsideProject { path: String },

    #[error("{path} is {kind}; avpctl reads only regular files")]
    NotARegularFile { path: String, kind: &'static str },

    #[error("{} is not valid UTF-8 (first bad byte at offset {byte})", location.file.display())]
    NotUtf8 { location: Location, byte: usize },

    #[error("invalid avpctl.toml: {message}")]
    Config { message: String, location: Location },

    #[error("{path}: {message}")]
    NotAProject { path: String, message: String },

    #[error("symbolic link loop at {path}: it leads back to {target}")]
    SymlinkLoop { path: String, target: String },

    #[error("{message}")]
    Syntax {
        message: String,
        location: Location,
        help: Option<String>,
    },

    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    Store(String),

    #[error("{context}")]
    Diagnosed {
        context: String,
        diagnostics: Vec<crate::diagnostic::Diagnostic>,
    },
}

impl Error {
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::NotUtf8 { location, .. }
            | Error::Config { location, .. }
            | Error::Syntax { location, .. } => Some(location),
            _ => None,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Error::FileTooLarge { .. } => {
                Some("split the file; AVP itself accepts at most 10,000 bytes per policy".into())
            }
            Error::NotUtf8 { .. } => Some("save the file as UTF-8".into()),
            Error::OutsideProject { .. } => Some(
                "keep every file the project names inside the project directory (no `..`, absolute paths or links that leave it)".into(),
            ),
            Error::NotARegularFile { .. } => Some("name a regular file".into()),
            Error::SymlinkLoop { .. } => {
                Some("remove the link, or point it outside the project".into())
            }
            Error::Syntax { help, .. } => help.clone(),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::FileTooLarge { .. } => "file-too-large",
            Error::NotUtf8 { .. } => "not-utf8",
            Error::OutsideProject { .. } => "outside-project",
            Error::NotARegularFile { .. } => "not-a-regular-file",
            Error::Config { .. } => "config",
            Error::NotAProject { .. } => "not-a-project",
            Error::SymlinkLoop { .. } => "symlink-loop",
            Error::Syntax { .. } => "syntax",
            Error::Usage(_) => "usage",
            Error::Store(_) => "store",
            Error::Diagnosed { .. } => "diagnosed",
        }
    }
}

impl From<&Error> for crate::diagnostic::Diagnostic {
    fn from(error: &Error) -> crate::diagnostic::Diagnostic {
        let mut diagnostic = crate::diagnostic::Diagnostic::error(error.code(), error.to_string());
        if let Some(location) = error.location() {
            diagnostic = diagnostic.at(location.clone());
        }
        diagnostic.help = error.help();
        diagnostic.unreadable = true;
        diagnostic
    }
}

impl From<Error> for Vec<crate::diagnostic::Diagnostic> {
    fn from(error: Error) -> Vec<crate::diagnostic::Diagnostic> {
        match error {
            Error::Diagnosed { diagnostics, .. } => diagnostics,
            other => vec![crate::diagnostic::Diagnostic::from(&other)],
        }
    }
}
