//! GitHub-flavoured Markdown for a pull-request comment or
//! `$GITHUB_STEP_SUMMARY`: headings, tables, collapsible `<details>`, code
//! blocks. Every piece of untrusted text (a policy id, a case name, a
//! message) goes through [`text`] or [`code`], so it can neither break out
//! of its table cell nor become a link, an HTML tag or an emphasis; no
//! ANSI escape is ever written (docs/output.md "Markdown").

use std::fmt::Write as _;

/// Above this many rows a table is folded into `<details>`.
pub const FOLD_ROWS: usize = 20;

/// Rows beyond this are not written; the table says how many were left out.
pub const MAX_ROWS: usize = 200;

/// A Markdown document being written, block by block.
#[derive(Debug, Default)]
pub struct Markdown {
    out: String,
}

impl Markdown {
    pub fn new() -> Markdown {
        Markdown::default()
    }

    pub fn finish(self) -> String {
        self.out
    }

    pub fn heading(&mut self, level: usize, inline: &str) {
        self.block(&format!("{} {inline}\n", "#".repeat(level.clamp(1, 6))));
    }

    /// `inline` is already Markdown (built with [`text`], [`code`], …).
    pub fn paragraph(&mut self, inline: &str) {
        self.block(&format!("{inline}\n"));
    }

    /// A bulleted list of inline Markdown items.
    pub fn list<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) {
        let mut block = String::new();
        for item in items {
            let _ = writeln!(block, "- {item}");
        }
        self.block(&block);
    }

    /// A table of inline Markdown cells; more than [`FOLD_ROWS`] rows are
    /// folded under `summary` (HTML, see [`Markdown::details`]), and more
    /// than [`MAX_ROWS`] are cut, saying so.
    pub fn table(&mut self, summary: &str, header: &[&str], rows: &[Vec<String>]) {
        if rows.len() > FOLD_ROWS {
            self.details(summary, |inner| inner.open_table(header, rows));
        } else {
            self.open_table(header, rows);
        }
    }

    /// A table that is never folded (it already stands in `<details>`);
    /// more than [`MAX_ROWS`] rows are cut, saying so.
    pub fn open_table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        let mut block = String::new();
        push_row(&mut block, header.iter().copied());
        push_row(&mut block, header.iter().map(|_| "---"));
        for row in rows.iter().take(MAX_ROWS) {
            push_row(&mut block, row.iter().map(String::as_str));
        }
        self.block(&block);
        if rows.len() > MAX_ROWS {
            self.paragraph(&format!(
                "*… and {} more rows, left out here; `--format json` lists them all.*",
                rows.len() - MAX_ROWS
            ));
        }
    }

    /// A collapsible section: `summary` always shown. It is HTML, not
    /// Markdown (GitHub does not read Markdown inside `<summary>`): build
    /// it with [`html`] and [`html_code`].
    pub fn details(&mut self, summary: &str, body: impl FnOnce(&mut Markdown)) {
        let mut inner = Markdown::new();
        body(&mut inner);
        // The blank line after <summary> lets GitHub render the body as
        // Markdown rather than as part of the HTML block.
        self.block(&format!(
            "<details><summary>{summary}</summary>\n\n{}\n</details>\n",
            inner.out.trim_end()
        ));
    }

    /// A fenced code block; the fence is longer than any run of backticks
    /// in `content`, so the content cannot close it.
    pub fn code_block(&mut self, language: &str, content: &str) {
        let fence = "`".repeat((longest_run(content, '`') + 1).max(3));
        let content = crate::text::lines(content);
        let content = content.trim_end_matches('\n');
        self.block(&format!("{fence}{language}\n{content}\n{fence}\n"));
    }

    fn block(&mut self, block: &str) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out.push_str(block);
    }
}

fn push_row<'a>(block: &mut String, cells: impl Iterator<Item = &'a str>) {
    block.push('|');
    for cell in cells {
        // GFM splits cells on every unescaped `|`, inside code spans too.
        let _ = write!(block, " {} |", cell.replace('|', "\\|"));
    }
    block.push('\n');
}

fn longest_run(text: &str, wanted: char) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        if c == wanted {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

/// Untrusted text as literal inline Markdown: one line, with every
/// character that could start markup backslash-escaped (CommonMark lets
/// any ASCII punctuation be escaped). A span between matching backticks
/// (Cedar's messages quote code so) stays a code span: inside one nothing
/// is markup, and a backslash would show. `|` is left to the table writer.
pub fn text(raw: &str) -> String {
    let line = crate::text::one_line(raw);
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' {
            let run = chars[i..].iter().take_while(|&&c| c == '`').count();
            if let Some(end) = closing_run(&chars, i + run, run) {
                out.extend(&chars[i..end + run]);
                i = end + run;
                continue;
            }
            for _ in 0..run {
                out.push_str("\\`");
            }
            i += run;
            continue;
        }
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Where a run of exactly `run` backticks starts at or after `from`.
fn closing_run(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == '`' {
            let length = chars[i..].iter().take_while(|&&c| c == '`').count();
            if length == run {
                return Some(i);
            }
            i += length;
        } else {
            i += 1;
        }
    }
    None
}

/// Untrusted text as HTML text (for a `<summary>`), on one line.
pub fn html(raw: &str) -> String {
    let line = crate::text::one_line(raw);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // A table cell would split here, even inside HTML.
            '|' => out.push_str("&#124;"),
            other => out.push(other),
        }
    }
    out
}

/// Untrusted text as HTML code (for a `<summary>`).
pub fn html_code(raw: &str) -> String {
    format!("<code>{}</code>", html(raw))
}

/// Untrusted text of several lines (a message) as inline Markdown, its
/// lines joined by `<br>` so that it stays in one table cell.
pub fn text_lines(raw: &str) -> String {
    raw.lines().map(text).collect::<Vec<_>>().join("<br>")
}

/// Untrusted text as an inline code span (an entity uid, a policy id).
pub fn code(raw: &str) -> String {
    let line = crate::text::one_line(raw);
    let ticks = "`".repeat(longest_run(&line, '`') + 1);
    // A space on each side keeps a leading or trailing backtick from
    // joining the fence; CommonMark strips one space from each side.
    let pad = if line.starts_with('`') || line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{line}{pad}{ticks}")
}

pub fn bold(inline: &str) -> String {
    format!("**{inline}**")
}

/// Where file:line links point: the file on GitHub at the commit being
/// checked when the run is in GitHub Actions, else the path relative to
/// where avpctl runs (which a comment posted on the repository resolves).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Links {
    /// `https://github.com/OWNER/REPO/blob/SHA/`, from the variables a
    /// runner sets (made once per process, so kept for good).
    blob_base: Option<&'static str>,
}

impl Links {
    /// From `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_SHA`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Links {
        let base = (|| {
            let server = get("GITHUB_SERVER_URL")?;
            let repository = get("GITHUB_REPOSITORY")?;
            let sha = get("GITHUB_SHA")?;
            let safe = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
            };
            (safe(&server) && safe(&repository) && safe(&sha))
                .then(|| format!("{}/{repository}/blob/{sha}/", server.trim_end_matches('/')))
        })();
        Links {
            blob_base: base.map(|base| &*Box::leak(base.into_boxed_str())),
        }
    }

    /// `[path:line](…#Lline)`; `path` is relative to the working directory.
    pub fn place(&self, path: &str, line: usize) -> String {
        let target = format!(
            "{}{}#L{line}",
            self.blob_base.unwrap_or(""),
            url_path(path.strip_prefix("./").unwrap_or(path))
        );
        format!("[{}:{line}]({target})", text(path))
    }
}

/// A path below the project (as test reports keep it) as seen from where
/// avpctl runs: the project directory as given, joined.
pub fn project_path(dir: &std::path::Path, relative: &str) -> String {
    let joined = crate::source::display_path(&dir.join(relative));
    joined
        .strip_prefix("./")
        .map(str::to_string)
        .unwrap_or(joined)
}

/// A path as a URL path: each byte outside the unreserved set and `/`
/// percent-encoded, so a space or a parenthesis cannot end the link.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Findings as a table: severity, place (a link), code, message and help.
/// Every Markdown report that meets diagnostics writes them so.
pub fn diagnostics_table<'a>(
    md: &mut Markdown,
    diagnostics: impl IntoIterator<Item = &'a crate::diagnostic::Diagnostic>,
    dir: &std::path::Path,
    links: &Links,
) {
    use crate::diagnostic::Severity;
    let rows: Vec<Vec<String>> = diagnostics
        .into_iter()
        .map(|d| {
            let severity = match d.severity {
                Severity::Error => "❌ error",
                Severity::Warning => "⚠️ warning",
            };
            let place = d.location.as_ref().map_or_else(String::new, |location| {
                let path = crate::report::human::shown_path(dir, &location.file);
                links.place(&path, location.line)
            });
            let mut message = text_lines(&d.message);
            if let Some(help) = &d.help {
                message.push_str(&format!("<br>help: {}", text_lines(help)));
            }
            vec![severity.to_string(), place, code(&d.code), message]
        })
        .collect();
    md.table(
        &crate::text::count(rows.len(), "finding", "findings"),
        &["", "Where", "Code", "Message"],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_become_markup() {
        assert_eq!(text("a*b_[x](y)<b>"), r"a\*b\_\[x\](y)\<b\>");
        assert_eq!(text("line\nbreak"), r"line\\nbreak");
        // Quoted code stays code; a lone backtick is literal.
        assert_eq!(text("use `a && b` or `c"), r"use `a && b` or \`c");
        assert_eq!(text("`` a`b `` x"), "`` a`b `` x");
    }

    #[test]
    fn a_code_span_outlasts_the_backticks_inside_it() {
        assert_eq!(code("plain"), "`plain`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`edge"), "`` `edge ``");
    }

    #[test]
    fn a_cell_keeps_its_pipes_inside_the_cell() {
        let mut md = Markdown::new();
        md.table("rows", &["a"], &[vec![code("x|y")]]);
        assert_eq!(md.finish(), "| a |\n| --- |\n| `x\\|y` |\n");
    }

    #[test]
    fn links_point_at_github_only_with_all_three_variables() {
        let vars = |name: &str| match name {
            "GITHUB_SERVER_URL" => Some("https://github.com".to_string()),
            "GITHUB_REPOSITORY" => Some("o/r".to_string()),
            "GITHUB_SHA" => Some("abc123".to_string()),
            _ => None,
        };
        assert_eq!(
            Links::from_env(vars).place("./p/tests/a b.yaml", 3),
            "[./p/tests/a b.yaml:3](https://github.com/o/r/blob/abc123/p/tests/a%20b.yaml#L3)"
        );
        assert_eq!(
            Links::from_env(|_| None).place("t.yaml", 1),
            "[t.yaml:1](t.yaml#L1)"
        );
    }

    #[test]
    fn a_long_table_is_folded_and_a_very_long_one_cut_saying_so() {
        let rows: Vec<Vec<String>> = (0..MAX_ROWS + 3).map(|i| vec![i.to_string()]).collect();
        let mut md = Markdown::new();
        md.table("many rows", &["n"], &rows);
        let text = md.finish();
        assert!(
            text.starts_with("<details><summary>many rows</summary>\n\n| n |"),
            "{text}"
        );
        // The header, its delimiter row, then the rows kept.
        assert_eq!(
            text.lines().filter(|l| l.starts_with("| ")).count(),
            MAX_ROWS + 2
        );
        assert!(text.contains("… and 3 more rows, left out here"), "{text}");
        let mut short = Markdown::new();
        short.table("few", &["n"], &rows[..FOLD_ROWS]);
        assert!(!short.finish().contains("<details>"));
    }

    #[test]
    fn a_code_block_cannot_be_closed_by_its_content() {
        let mut md = Markdown::new();
        md.code_block("diff", "a\n```\nb");
        assert_eq!(md.finish(), "````diff\na\n```\nb\n````\n");
    }
}
