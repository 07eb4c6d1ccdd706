//! Terminal colour, decided once per run.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// `auto` colours a terminal unless `NO_COLOR` is set (no-color.org).
    pub fn for_stdout(choice: ColorChoice) -> Style {
        Style::decide(choice, std::io::stdout().is_terminal())
    }

    pub fn for_stderr(choice: ColorChoice) -> Style {
        Style::decide(choice, std::io::stderr().is_terminal())
    }

    fn decide(choice: ColorChoice, terminal: bool) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Style { color }
    }

    pub fn plain() -> Style {
        Style { color: false }
    }

    fn paint(self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn colour(self, colour: anstyle::AnsiColor, text: &str) -> String {
        self.paint(anstyle::Style::new().fg_color(Some(colour.into())), text)
    }

    pub fn green(self, text: &str) -> String {
        self.colour(anstyle::AnsiColor::Green, text)
    }

    pub fn red(self, text: &str) -> String {
        self.colour(anstyle::AnsiColor::Red, text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.colour(anstyle::AnsiColor::Yellow, text)
    }

    pub fn cyan(self, text: &str) -> String {
        self.colour(anstyle::AnsiColor::Cyan, text)
    }

    pub fn bold(self, text: &str) -> String {
        self.paint(anstyle::Style::new().bold(), text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint(anstyle::Style::new().dimmed(), text)
    }

    /// One line of a unified diff, coloured by its kind.
    pub fn diff_line(self, line: &str) -> String {
        if line.starts_with("+++") || line.starts_with("---") {
            self.bold(line)
        } else if line.starts_with('+') {
            self.green(line)
        } else if line.starts_with('-') {
            self.red(line)
        } else if line.starts_with("@@") {
            self.cyan(line)
        } else {
            line.to_string()
        }
    }
}
