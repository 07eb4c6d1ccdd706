//! `avpctl fmt`: Cedar files in canonical form, with `cedar-policy-formatter`.
//!
//! Formatting is refused, and the file left byte for byte as it was, when
//! the file does not parse or when the formatter would lose a comment.
//! Files are replaced atomically and only when their text changes; a file's
//! own line endings (LF or CRLF) are kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::json;

use crate::cli::{ColorChoice, FmtArgs, PlainFormat};
use crate::config::{CONFIG_FILE, Config, FmtConfig};
use crate::diagnostic::{Diagnostic, Severity};
use crate::error::Error;
use crate::report::Style;
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
}

impl FileStatus {
    fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Unchanged => "unchanged",
            FileStatus::Reformatted => "reformatted",
            FileStatus::WouldReformat => "would-reformat",
            FileStatus::Failed(_) => "error",
        }
    }
}

/// A file to format and the settings that apply to it.
struct Target {
    path: PathBuf,
    config: FmtConfig,
}

/// `avpctl fmt`.
pub fn run(args: &FmtArgs, color: ColorChoice) -> Result<u8, Error> {
    if args.paths.iter().any(|p| p.as_os_str() == "-") {
        if args.paths.len() > 1 {
            return Err(Error::Usage(
                "`-` (stdin) cannot be combined with other paths".into(),
            ));
        }
        return format_stdin(args, color);
    }
    let targets = targets(args)?;
    let outcomes: Vec<FileOutcome> = targets
        .par_iter()
        .map(|t| format_file(t, args.check))
        .collect();
    let out = match args.format {
        PlainFormat::Human => human_report(&outcomes, args.check, Style::for_stdout(color)),
        PlainFormat::Json => format!("{:#}\n", json_report(&outcomes, args.check)),
    };
    crate::output::print(&out)?;
    Ok(exit_code(&outcomes))
}

fn exit_code(outcomes: &[FileOutcome]) -> u8 {
    if outcomes
        .iter()
        .any(|o| matches!(o.status, FileStatus::Failed(_)))
    {
        2
    } else if outcomes
        .iter()
        .any(|o| matches!(o.status, FileStatus::WouldReformat))
    {
        1
    } else {
        0
    }
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
            }));
        }
    }
    Ok(targets)
}

fn format_file(target: &Target, check: bool) -> FileOutcome {
    let shown = PathBuf::from(display_path(&target.path).trim_start_matches("./"));
    let outcome = |status, diff| FileOutcome {
        path: shown.clone(),
        status,
        diff,
    };
    let file = match SourceFile::read_chosen(&target.path, &target.path) {
        Ok(file) => SourceFile::new(&shown, file.shared_text()),
        Err(err) => {
            return outcome(
                FileStatus::Failed(vec![Diagnostic::from(&err)]),
                String::new(),
            );
        }
    };
    let formatted = match format_text(&file, target.config) {
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
    match crate::atomic::write(&target.path, formatted.as_bytes()) {
        Ok(()) => outcome(FileStatus::Reformatted, String::new()),
        Err(err) => outcome(
            FileStatus::Failed(vec![Diagnostic::from(&Error::io(file.display(), err))]),
            String::new(),
        ),
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

fn colour_diff(diff: &str, style: Style) -> String {
    diff.lines()
        .map(|line| style.diff_line(line))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn human_report(outcomes: &[FileOutcome], check: bool, style: Style) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        match &outcome.status {
            FileStatus::Unchanged => {}
            FileStatus::Reformatted => {
                out.push_str(&format!("reformatted {}\n", display_path(&outcome.path)))
            }
            FileStatus::WouldReformat => {
                out.push_str(&format!(
                    "{} {}\n",
                    style.yellow("would reformat"),
                    display_path(&outcome.path)
                ));
                out.push_str(&colour_diff(&outcome.diff, style));
            }
            FileStatus::Failed(diagnostics) => {
                for d in diagnostics {
                    out.push_str(&crate::report::human::render(d, style, Path::new("")));
                }
            }
        }
    }
    let count =
        |wanted: fn(&FileStatus) -> bool| outcomes.iter().filter(|o| wanted(&o.status)).count();
    let changed = count(|s| matches!(s, FileStatus::Reformatted | FileStatus::WouldReformat));
    let unchanged = count(|s| matches!(s, FileStatus::Unchanged));
    let failed = count(|s| matches!(s, FileStatus::Failed(_)));
    let verb = if check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    out.push_str(&format!(
        "fmt: {}, {unchanged} already formatted",
        crate::validate::count(changed, &format!("file {verb}"), &format!("files {verb}"))
    ));
    if failed > 0 {
        out.push_str(&format!(
            ", {}",
            style.red(&format!("{failed} could not be formatted"))
        ));
    }
    out.push('\n');
    out
}

fn json_report(outcomes: &[FileOutcome], check: bool) -> serde_json::Value {
    let files: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let mut file = json!({"file": display_path(&o.path), "status": o.status.as_str()});
            if !o.diff.is_empty() {
                file["diff"] = json!(o.diff);
            }
            if let FileStatus::Failed(diagnostics) = &o.status {
                file["diagnostics"] = diagnostics
                    .iter()
                    .map(crate::report::json::diagnostic)
                    .collect();
            }
            file
        })
        .collect();
    json!({
        "check": check,
        "summary": {
            "files": outcomes.len(),
            "changed": outcomes.iter().filter(|o| matches!(o.status, FileStatus::Reformatted | FileStatus::WouldReformat)).count(),
            "failed": outcomes.iter().filter(|o| matches!(o.status, FileStatus::Failed(_))).count(),
        },
        "files": files,
    })
}

/// `avpctl fmt -`: stdin to stdout, for editors. Diagnostics go to stderr.
fn format_stdin(args: &FmtArgs, color: ColorChoice) -> Result<u8, Error> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|err| Error::io("<stdin>", err))?;
    let config = settings_for(Path::new("."), args)?;
    let file = SourceFile::new("<stdin>", text);
    match format_text(&file, config) {
        Ok(formatted) if args.check => {
            if formatted == file.text() {
                return Ok(0);
            }
            crate::output::print(&colour_diff(
                &unified_diff(file.text(), &formatted, "<stdin>"),
                Style::for_stdout(color),
            ))?;
            Ok(1)
        }
        Ok(formatted) => {
            crate::output::print(&formatted)?;
            Ok(0)
        }
        Err(err) => {
            let style = Style::for_stderr(color);
            for d in format_error_diagnostics(err, &file) {
                crate::output::eprint(&crate::report::human::render(&d, style, Path::new("")));
            }
            Ok(2)
        }
    }
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
