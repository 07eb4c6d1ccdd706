//! `avpctl fmt`: Cedar files in canonical form, with `cedar-policy-formatter`.
//!
//! Formatting is refused, and the file left byte for byte as it was, when
//! the file does not parse or when the formatter would lose a comment.
//! Files are replaced atomically and only when their text changes; a file's
//! own line endings (LF or CRLF) are kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cli::FmtArgs;
use crate::config::{CONFIG_FILE, Config, FmtConfig};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::Error;
use crate::source::{SourceFile, display_path};

/// Why a text could not be formatted.
#[derive(Debug)]
pub enum FormatError {
    /// It does not parse: Cedar's located diagnostics.
    Syntax(Vec<Diagnostic>),
    /// The formatter would have dropped this comment.
    LostComment(String),
    /// The formatter itself failed.
    Formatter(String),
}

/// Formats one Cedar text. `file` names it in diagnostics.
pub fn format_text(file: &SourceFile, config: FmtConfig) -> Result<String, FormatError> {
    let text = file.text();
    if text.trim().is_empty() {
        return Ok(text.to_string());
    }
    crate::nesting::check_file(file).map_err(|too_deep| FormatError::Syntax(vec![too_deep]))?;
    if let Err(errors) = text.parse::<cedar_policy::PolicySet>() {
        return Err(FormatError::Syntax(
            errors
                .iter()
                .map(|e| {
                    Diagnostic::from_miette(e, Severity::Error, file, None)
                        .with_code("cedar-syntax")
                })
                .collect(),
        ));
    }
    let crlf = text.contains("\r\n");
    let lf_text = if crlf {
        text.replace("\r\n", "\n")
    } else {
        text.to_string()
    };
    let formatter_config = cedar_policy_formatter::Config {
        line_width: config.line_width,
        indent_width: isize::try_from(config.indent_width).unwrap_or(2),
    };
    let formatted = cedar_policy_formatter::policies_str_to_pretty(&lf_text, &formatter_config)
        .map_err(|err| FormatError::Formatter(format!("{err:?}")))?;
    if let Some(lost) = lost_comment(&lf_text, &formatted) {
        return Err(FormatError::LostComment(lost));
    }
    Ok(if crlf {
        formatted.replace('\n', "\r\n")
    } else {
        formatted
    })
}

/// The first comment of `before` that `after` no longer has (comments are
/// compared by their text, trimmed, as a multiset).
fn lost_comment(before: &str, after: &str) -> Option<String> {
    let mut remaining = comments(after);
    for comment in comments(before) {
        match remaining.iter().position(|c| *c == comment) {
            Some(i) => {
                remaining.swap_remove(i);
            }
            None => return Some(comment),
        }
    }
    None
}

/// `//` comments outside string literals.
fn comments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let chars: Vec<(usize, char)> = line.char_indices().collect();
        for (k, &(i, c)) in chars.iter().enumerate() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if c == '/' && chars.get(k + 1).is_some_and(|&(_, n)| n == '/') {
                found.push(line[i..].trim().to_string());
                break;
            }
        }
    }
    found
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub status: FileStatus,
    /// Unified diff of the change (`--check`), empty otherwise.
    pub diff: String,
}

#[derive(Debug)]
pub enum FileStatus {
    Unchanged,
    Reformatted,
    WouldReformat,
    Failed(Vec<Diagnostic>),
    /// Left alone on purpose, with why: a symbolic link, a read-only or
    /// hard-linked file, one that changed while it was formatted.
    Skipped(Vec<Diagnostic>),
}

impl FileStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Unchanged => "unchanged",
            FileStatus::Reformatted => "reformatted",
            FileStatus::WouldReformat => "would-reformat",
            FileStatus::Failed(_) => "error",
            FileStatus::Skipped(_) => "skipped",
        }
    }
}

/// A file to format and the settings that apply to it.
struct Target {
    path: PathBuf,
    config: FmtConfig,
    /// For a file found below a directory: that directory, canonical; the
    /// file must be inside it.
    inside: Option<PathBuf>,
}

/// Formats every file `args.paths` names (not `-`), in parallel; with
/// `check`, only says what would change.
pub fn format_paths(args: &FmtArgs) -> Result<Vec<FileOutcome>, Error> {
    let targets = targets(args)?;
    Ok(targets
        .par_iter()
        .map(|t| format_file(t, args.check))
        .collect())
}

/// The settings for files under `dir`: `[fmt]` of the nearest `avpctl.toml`
/// at or above it, then the flags.
fn settings_for(dir: &Path, args: &FmtArgs) -> Result<FmtConfig, Error> {
    let mut config = FmtConfig::default();
    let start = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some(root) = start.ancestors().find(|a| a.join(CONFIG_FILE).is_file()) {
        config = Config::load(root)?.0.fmt;
    }
    if let Some(width) = args.line_width {
        config.line_width = width;
    }
    if let Some(indent) = args.indent_width {
        config.indent_width = indent;
    }
    Ok(config)
}

/// Every file the arguments name. A directory that is a project (it has
/// `avpctl.toml`, `policies/` or `templates/`) contributes its policy and
/// template directories; any other directory, every `.cedar` file below it.
fn targets(args: &FmtArgs) -> Result<Vec<Target>, Error> {
    let mut targets = Vec::new();
    for path in &args.paths {
        if path.is_file() {
            let parent = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            targets.push(Target {
                path: path.clone(),
                config: settings_for(parent, args)?,
                inside: None,
            });
            continue;
        }
        if !path.is_dir() {
            return Err(Error::Io {
                path: display_path(path),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
        let config = settings_for(path, args)?;
        let inside = std::fs::canonicalize(path).ok();
        let project_config = if path.join(CONFIG_FILE).is_file() {
            Some(Config::load(path)?.0)
        } else {
            None
        };
        let dirs: Vec<PathBuf> = match &project_config {
            Some(c) => vec![PathBuf::from(&c.policies), PathBuf::from(&c.templates)],
            None if path.join("policies").is_dir() || path.join("templates").is_dir() => {
                vec![PathBuf::from("policies"), PathBuf::from("templates")]
            }
            None => vec![PathBuf::new()],
        };
        for dir in dirs {
            let (files, problems) = crate::project::discover_files(path, &dir, "cedar");
            if let Some(problem) = problems.first() {
                return Err(Error::Usage(problem.message.clone()));
            }
            targets.extend(files.into_iter().map(|f| Target {
                path: path.join(f),
                config,
                inside: inside.clone(),
            }));
        }
    }
    Ok(targets)
}

fn format_file(target: &Target, check: bool) -> FileOutcome {
    format_path_inside(
        &target.path,
        target.inside.as_deref(),
        target.config,
        check,
        &mut || {},
    )
}

/// Formats one file on disk, as `avpctl fmt FILE` does. `before_replace`
/// runs once the file has been read and formatted, immediately before
/// avpctl checks that the file is unchanged and renames the new text over
/// it: tests use it to change the file at the worst possible moment.
pub fn format_path(
    path: &Path,
    config: FmtConfig,
    check: bool,
    before_replace: &mut dyn FnMut(),
) -> FileOutcome {
    format_path_inside(path, None, config, check, before_replace)
}

fn format_path_inside(
    path: &Path,
    inside: Option<&Path>,
    config: FmtConfig,
    check: bool,
    before_replace: &mut dyn FnMut(),
) -> FileOutcome {
    let shown = PathBuf::from(display_path(path).trim_start_matches("./"));
    let outcome = |status, diff| FileOutcome {
        path: shown.clone(),
        status,
        diff,
    };
    if let Some(root) = inside
        && let Some(skip) = outside(path, root, &shown)
    {
        return outcome(FileStatus::Skipped(vec![skip]), String::new());
    }
    let (text, snapshot) = match read_whole(path, &shown) {
        Ok(read) => read,
        Err(ReadFailure::Skip(err)) => {
            return outcome(
                FileStatus::Skipped(vec![skip_diagnostic(&shown, &err)]),
                String::new(),
            );
        }
        Err(ReadFailure::Error(err)) => {
            return outcome(
                FileStatus::Failed(vec![Diagnostic::from(&err)]),
                String::new(),
            );
        }
    };
    let file = SourceFile::new(&shown, text);
    let formatted = match format_text(&file, config) {
        Ok(formatted) => formatted,
        Err(err) => {
            return outcome(
                FileStatus::Failed(format_error_diagnostics(err, &file)),
                String::new(),
            );
        }
    };
    if formatted == file.text() {
        return outcome(FileStatus::Unchanged, String::new());
    }
    if check {
        let diff = unified_diff(file.text(), &formatted, &file.display());
        return outcome(FileStatus::WouldReformat, diff);
    }
    // The last moment before the rename: the file must still be the one
    // that was read (same inode, size, modification time and content),
    // or the newer content would be lost.
    let mut still_unchanged = || {
        before_replace();
        unchanged(path, &snapshot, file.text().as_bytes())
    };
    match crate::atomic::replace(path, formatted.as_bytes(), &mut still_unchanged) {
        Ok(()) => outcome(FileStatus::Reformatted, String::new()),
        Err(crate::atomic::WriteError::Io(err)) => outcome(
            FileStatus::Failed(vec![Diagnostic::from(&Error::io(file.display(), err))]),
            String::new(),
        ),
        Err(err) => outcome(
            FileStatus::Skipped(vec![skip_diagnostic(&shown, &err)]),
            String::new(),
        ),
    }
}

/// What identifies one version of a file: if any of it differs, somebody
/// wrote the file (or replaced it) since it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    len: u64,
    modified: Option<std::time::SystemTime>,
    /// Device and inode: an editor that saves by renaming makes a new one.
    #[cfg(unix)]
    identity: (u64, u64),
}

impl Snapshot {
    fn of(metadata: &std::fs::Metadata) -> Snapshot {
        Snapshot {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            identity: {
                use std::os::unix::fs::MetadataExt;
                (metadata.dev(), metadata.ino())
            },
        }
    }
}

enum ReadFailure {
    /// The file is left alone on purpose (a link, a concurrent write).
    Skip(crate::atomic::WriteError),
    /// The file cannot be read.
    Error(Error),
}

/// Opens `path` for reading without following a symbolic link and without
/// blocking on a FIFO.
fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Reads the whole file, or nothing: a symbolic link, a file that is not
/// regular, too large, or that changes while it is read (a read shorter or
/// longer than the file, another size or time afterwards) is not formatted.
fn read_whole(path: &Path, shown: &Path) -> Result<(String, Snapshot), ReadFailure> {
    use crate::atomic::WriteError;
    let io = |err: std::io::Error| ReadFailure::Error(Error::io(display_path(shown), err));
    let linked = std::fs::symlink_metadata(path).map_err(io)?;
    if linked.file_type().is_symlink() {
        return Err(ReadFailure::Skip(WriteError::Symlink));
    }
    let mut file = match open_no_follow(path) {
        Ok(file) => file,
        // ELOOP: it became a link after the check above.
        #[cfg(unix)]
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadFailure::Skip(WriteError::Symlink));
        }
        Err(err) => return Err(io(err)),
    };
    let before = file.metadata().map_err(io)?;
    if !before.is_file() {
        return Err(ReadFailure::Skip(WriteError::NotRegular));
    }
    if before.len() > crate::files::MAX_FILE_BYTES {
        return Err(ReadFailure::Error(Error::FileTooLarge {
            path: display_path(shown),
            size: before.len(),
            limit: crate::files::MAX_FILE_BYTES,
        }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
    (&mut file)
        .take(before.len() + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let after = file.metadata().map_err(io)?;
    let snapshot = Snapshot::of(&before);
    if bytes.len() as u64 != before.len() || Snapshot::of(&after) != snapshot {
        return Err(ReadFailure::Skip(WriteError::Changed));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((text, snapshot)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
            let location = SourceFile::new(shown, prefix).location(valid..valid);
            Err(ReadFailure::Error(Error::NotUtf8 {
                location,
                byte: valid,
            }))
        }
    }
}

/// Whether the file at `path` is still the version that was read: the same
/// inode, size and modification time, and the same bytes (compared in full:
/// avpctl holds the text anyway, so no hash can collide).
fn unchanged(path: &Path, read: &Snapshot, text: &[u8]) -> Result<(), crate::atomic::WriteError> {
    use crate::atomic::WriteError;
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Err(WriteError::Symlink);
    }
    if Snapshot::of(&metadata) != *read {
        return Err(WriteError::Changed);
    }
    let mut now = Vec::with_capacity(text.len());
    open_no_follow(path)?
        .take(read.len + 1)
        .read_to_end(&mut now)?;
    if now != text {
        return Err(WriteError::Changed);
    }
    Ok(())
}

/// A file reached through a symbolic link to outside the directory `fmt`
/// was given is not rewritten (nor read).
fn outside(path: &Path, root: &Path, shown: &Path) -> Option<Diagnostic> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let real = std::fs::canonicalize(parent).ok()?;
    if real.starts_with(root) {
        return None;
    }
    Some(
        Diagnostic::error(
            "fmt-outside",
            format!(
                "{} is outside {} (reached through a symbolic link); it was left as it is",
                display_path(shown),
                display_path(root)
            ),
        )
        .with_help("fmt does not follow links out of the directory it was given; format the link's target where it lives"),
    )
}

fn skip_diagnostic(shown: &Path, err: &crate::atomic::WriteError) -> Diagnostic {
    use crate::atomic::WriteError;
    let diagnostic = Diagnostic::error(err.code(), format!("{} {err}", display_path(shown)));
    match err {
        WriteError::Changed => diagnostic.with_help(
            "another program wrote the file while avpctl formatted it; its new content was kept",
        ),
        WriteError::Symlink => diagnostic.with_help(
            "avpctl fmt does not rewrite links: that would replace the link with a file",
        ),
        WriteError::ReadOnly => diagnostic.with_help("make it writable to format it"),
        _ => diagnostic,
    }
}

fn format_error_diagnostics(err: FormatError, file: &SourceFile) -> Vec<Diagnostic> {
    match err {
        FormatError::Syntax(diagnostics) => diagnostics,
        FormatError::LostComment(comment) => {
            vec![Diagnostic::error(
            "fmt-lost-comment",
            format!("the formatter would drop the comment `{comment}`; the file was left as it is"),
        )
        .at(file.location(file.text().find(&comment).map_or(0..0, |at| at..at + comment.len())))
        .with_help("move the comment onto a line of its own before or after the policy")]
        }
        FormatError::Formatter(message) => {
            vec![Diagnostic::error("fmt", message).at(file.location(0..0))]
        }
    }
}

fn unified_diff(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (original)"),
            &format!("{name} (formatted)"),
        )
        .to_string()
}

/// What `avpctl fmt -` does with a text read from standard input.
#[derive(Debug)]
pub enum StdinOutcome {
    Unchanged,
    /// `--check`: the unified diff of the change.
    WouldReformat(String),
    Formatted(String),
    Failed(Vec<Diagnostic>),
}

/// `avpctl fmt -`: the text of standard input, formatted with the settings
/// of the current directory's project.
pub fn format_stdin_text(args: &FmtArgs, text: String) -> Result<StdinOutcome, Error> {
    let config = settings_for(Path::new("."), args)?;
    let file = SourceFile::new("<stdin>", text);
    Ok(match format_text(&file, config) {
        Ok(formatted) if formatted == file.text() => {
            if args.check {
                StdinOutcome::Unchanged
            } else {
                StdinOutcome::Formatted(formatted)
            }
        }
        Ok(formatted) if args.check => {
            StdinOutcome::WouldReformat(unified_diff(file.text(), &formatted, "<stdin>"))
        }
        Ok(formatted) => StdinOutcome::Formatted(formatted),
        Err(err) => StdinOutcome::Failed(format_error_diagnostics(err, &file)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(text: &str) -> Result<String, FormatError> {
        format_text(&SourceFile::new("t.cedar", text), FmtConfig::default())
    }

    #[test]
    fn formats_and_is_idempotent() {
        let once = format("permit(principal,action,resource) when {principal.a==1};").unwrap();
        assert_eq!(
            once,
            "permit (principal, action, resource)\nwhen { principal.a == 1 };\n"
        );
        assert_eq!(format(&once).unwrap(), once);
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let out = format("// rule\r\npermit(principal,action,resource);\r\n").unwrap();
        assert!(out.contains("\r\n"));
        assert!(
            !out.replace("\r\n", "").contains('\n'),
            "no bare LF: {out:?}"
        );
    }

    #[test]
    fn comments_inside_strings_are_not_comments() {
        assert_eq!(
            comments(r#"when { a == "http://x" } // real"#),
            vec!["// real"]
        );
    }

    #[test]
    fn a_lost_comment_is_detected() {
        assert_eq!(
            lost_comment("// a\n// b\n", "// a\n"),
            Some("// b".to_string())
        );
        assert_eq!(lost_comment("// a\n", "x // a\n"), None);
    }

    #[test]
    fn a_syntax_error_is_located() {
        match format("permit(principal, action, resource)\nwhen { 1 + };") {
            Err(FormatError::Syntax(d)) => assert_eq!(d[0].location.as_ref().unwrap().line, 2),
            other => panic!("{other:?}"),
        }
    }
}
