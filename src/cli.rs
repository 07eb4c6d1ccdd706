//! The command line: every flag is declared and documented once, here.
//! Subcommand modules receive these parsed arguments and never read the
//! environment or argv themselves.

use std::path::PathBuf;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Authorization policy as code for Cedar and Amazon Verified Permissions.
///
/// avpctl checks, tests, formats and deploys a policy project: a directory
/// with `policies/*.cedar`, a Cedar schema and YAML test suites (see
/// `avpctl.toml` in the README for the layout).
#[derive(Debug, Parser)]
#[command(
    name = "avpctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Start with `avpctl validate` and `avpctl test` in a project directory.\n\
Exit codes: 0 all checks hold, 1 a check found something, 2 avpctl could not do its job."
)]
pub struct Cli {
    /// When to colour the output. `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// Log every call to a policy store on standard error (operation, target, time).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse every policy, template and link and validate them against the schema.
    ///
    /// Reports every problem with its file, line and column: syntax errors,
    /// schema errors, strict-mode type errors, link errors, and warnings
    /// about what Amazon Verified Permissions would reject (`avp-…` codes).
    Validate(ValidateArgs),

    /// Run the YAML test suites under `tests/` with the Cedar authorizer.
    Test(TestArgs),

    /// Rewrite Cedar files in canonical form (`--check` only reports).
    #[command(visible_alias = "format")]
    Fmt(FmtArgs),

    /// Show what differs between the project and a store, another project
    /// or a git revision.
    Diff(DiffArgs),

    /// Who can do what: every allowed request over an entity snapshot, with its reasons.
    ///
    /// Fix any of --principal, --action and --resource; the others range
    /// over the snapshot's entities of the types the schema allows there
    /// and over the schema's actions (docs/access.md).
    Access(AccessArgs),

    /// Make a store equal to the project: validate, test, plan, then apply.
    Deploy(DeployArgs),

    /// Write a project holding what a store holds: schema, policies, templates, links.
    ///
    /// DIR must be absent or empty. The project validates, is fmt-clean, and
    /// `diff DIR --store URI` finds no difference (docs/import.md).
    Import(ImportArgs),

    /// Start a project: avpctl.toml, a schema, a policy, a passing test suite,
    /// a pre-commit configuration and a GitHub workflow.
    Init(InitArgs),

    /// Print a shell completion script (e.g. `avpctl completions bash > /etc/bash_completion.d/avpctl`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Human)]
    pub format: ValidateFormat,

    /// Treat warnings (including the AVP pre-flight `avp-…` warnings) as failures.
    #[arg(long)]
    pub deny_warnings: bool,

    /// Also prove, per policy, that it can never raise an error and can apply, and flag
    /// conditions that always hold, with a witness request (needs cvc5).
    #[arg(long)]
    pub prove: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// Diagnostics with source snippets, for people.
    Human,
    /// One JSON document (see docs/output.md).
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…::`).
    Github,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// GitHub-flavoured Markdown, for a pull-request comment or the step summary.
    Markdown,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,

    /// Run only cases whose suite file or name contains PATTERN (repeatable; any matches).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Vec<String>,

    /// Stop at the first failing case.
    #[arg(long)]
    pub fail_fast: bool,

    /// Report which policies the cases exercise, and what they leave untested.
    #[arg(long)]
    pub coverage: bool,

    /// Fail when fewer than PCT percent of policies and templates are exercised (implies --coverage).
    #[arg(long, value_name = "PCT")]
    pub min_coverage: Option<f64>,

    /// Succeed even when no test case is found.
    #[arg(long)]
    pub allow_empty: bool,

    /// Fail (exit 1) when the run has warnings, e.g. a parent no entity data declares.
    #[arg(long)]
    pub deny_warnings: bool,

    /// Number of threads evaluating cases (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Also replay every case against this deployed store and compare.
    #[arg(long, value_name = "URI")]
    pub store: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Only this principal, e.g. 'DocApp::User::"alice"' ("what can alice do?").
    #[arg(long, value_name = "UID")]
    pub principal: Option<String>,

    /// Only this action, e.g. 'DocApp::Action::"editDocument"'.
    #[arg(long, value_name = "UID")]
    pub action: Option<String>,

    /// Only this resource ("who can … on it?").
    #[arg(long, value_name = "UID")]
    pub resource: Option<String>,

    /// The request context, a JSON object read by the schema's types (default: {}).
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,

    /// Entity data to answer over (repeatable; a file or a directory of .json files).
    /// Default: the `entities` list of avpctl.toml.
    #[arg(long, value_name = "PATH")]
    pub entities: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = AccessFormat::Human)]
    pub format: AccessFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessFormat {
    /// Allowed requests grouped by action, for people.
    Human,
    /// One JSON document (docs/output.md describes it).
    Json,
    /// One row per allowed request, for spreadsheets.
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// One line per case and details for failures, for people.
    Human,
    /// One JSON document (docs/output.md describes it).
    Json,
    /// JUnit XML, as GitLab and GitHub test reporters read it.
    Junit,
    /// GitHub Actions workflow commands: an `::error` on each failed case's line.
    Github,
    /// GitHub-flavoured Markdown, for a pull-request comment or the step summary.
    Markdown,
}

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// A project directory, or Cedar files; `-` reads one file from stdin and writes to stdout.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Change nothing; show a diff of each file that would change and exit 1 if any would.
    #[arg(long)]
    pub check: bool,

    /// Maximum line width (default: `[fmt] line_width` in avpctl.toml, else 80; at most 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000).map(usize::from))]
    pub line_width: Option<usize>,

    /// Spaces per indentation level (default: `[fmt] indent_width`, else 2; at most 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16).map(usize::from))]
    pub indent_width: Option<usize>,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = PlainFormat::Human)]
    pub format: PlainFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlainFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The project directory: the new side of the diff.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// The old side: a store URI (`local:PATH`, `avp:ID`, `avp:policy-store-alias/NAME`) or a name from avpctl.toml.
    #[arg(long, value_name = "URI", conflicts_with_all = ["against", "against_git"])]
    pub store: Option<String>,

    /// The old side: another project directory.
    #[arg(long, value_name = "DIR", conflicts_with = "against_git")]
    pub against: Option<PathBuf>,

    /// The old side: this project at a git revision (e.g. `origin/main`).
    #[arg(long, value_name = "REF")]
    pub against_git: Option<String>,

    /// Exit 1 when anything differs.
    #[arg(long)]
    pub exit_code: bool,

    /// Prove, for every principal type × action × resource type of the schema, whether access
    /// is equivalent, narrowed or widened, with a concrete request where it changes (needs cvc5).
    #[arg(long)]
    pub prove: bool,

    /// Exit 1 when any request environment gains access (widens or changes both ways); implies --prove.
    #[arg(long)]
    pub deny_widening: bool,

    /// Time limit of one solver query, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub prove_timeout: u64,

    /// List every request of the entity snapshot whose decision the change flips (docs/access.md).
    #[arg(long)]
    pub impact: bool,

    /// With --impact: the entity snapshot (repeatable; default: `entities` of avpctl.toml).
    #[arg(long, value_name = "PATH", requires = "impact")]
    pub entities: Vec<PathBuf>,

    /// With --impact: the request context, a JSON object (default: {}).
    #[arg(long, value_name = "JSON", requires = "impact")]
    pub context: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Changes grouped by what they do to access, with statement diffs.
    Human,
    /// One JSON document (docs/output.md describes it).
    Json,
    /// GitHub-flavoured Markdown, for a pull-request comment or the step summary.
    Markdown,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The store to import: `local:PATH`, `avp:ID` or `avp:policy-store-alias/NAME`.
    #[arg(long, value_name = "URI")]
    pub store: String,

    /// The new project's directory (absent or empty).
    pub dir: PathBuf,

    /// The schema's form in the project.
    #[arg(long, value_enum, default_value_t = SchemaFormatArg::Cedar)]
    pub schema_format: SchemaFormatArg,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = PlainFormat::Human)]
    pub format: PlainFormat,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormatArg {
    /// schema.cedarschema, Cedar's schema syntax.
    Cedar,
    /// schema.cedarschema.json, Cedar's JSON schema form (as AVP stores it).
    Json,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The new project's directory (absent or empty).
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = PlainFormat::Human)]
    pub format: PlainFormat,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// The store to deploy to (repeatable); default `local:.avpctl/store.json` in the project.
    #[arg(long, value_name = "URI")]
    pub store: Vec<String>,

    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write the plan to FILE (with what it was made against) and change nothing;
    /// `--plan FILE` applies exactly it (docs/saved-plans.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dry_run", "plan"])]
    pub plan_out: Option<PathBuf>,

    /// Apply the plan saved in FILE, without asking, if the store and the project
    /// are still what it was made against; else refuse (exit 1), writing nothing.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dry_run", "prune"])]
    pub plan: Option<PathBuf>,

    /// Skip the test suites (a warning is printed).
    #[arg(long)]
    pub no_tests: bool,

    /// Also delete policies in the store that the project does not manage.
    #[arg(long)]
    pub prune: bool,

    /// Deploy to AVP despite this pre-flight warning (e.g. `avp-template-slots`;
    /// repeatable). The warning is still shown; AVP may still refuse the call.
    #[arg(long, value_name = "CODE")]
    pub allow_preflight: Vec<String>,

    /// Output format of the plan and summary.
    #[arg(long, value_enum, default_value_t = PlainFormat::Human)]
    pub format: PlainFormat,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How to reach Amazon Verified Permissions; unset values come from the
/// standard AWS configuration (environment, profiles, SSO, web identity).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// AWS region of the store.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS profile from ~/.aws/config.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Endpoint of the Verified Permissions API (e.g. an emulator).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Maximum concurrent calls to the store.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub concurrency: usize,
}
