//! `avpctl access`: load → snapshot → access::review → report::access.

use super::{ExitCode, Settings};
use crate::access::Query;
use crate::cli::{AccessArgs, AccessFormat};
use crate::error::Error;
use crate::report;

pub fn run(args: &AccessArgs, settings: &Settings) -> Result<ExitCode, Error> {
    let loaded = crate::project::load(&args.dir)?;
    let project = crate::testing::usable(loaded)?;
    let query = query(args)?;
    let entities = crate::access::snapshot(&project, &args.entities)?;
    let review = crate::access::review(&project, &entities, &query)?;
    match args.format {
        AccessFormat::Human => {
            crate::output::print(&report::access::human(&review, &project, settings.out))?
        }
        AccessFormat::Json => {
            crate::output::stream(|out| report::access::write_json(&review, &query, out))?
        }
        AccessFormat::Csv => crate::output::print(&report::access::csv(&review)?)?,
    }
    // The process ends here: freeing a large snapshot and its answers value
    // by value is time the system saves by taking the memory back at once.
    std::mem::forget((review, entities));
    Ok(ExitCode::Success)
}

/// The command line's principal, action, resource and context, checked.
fn query(args: &AccessArgs) -> Result<Query, Error> {
    let uid = |flag: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|text| {
                crate::uid::UidSpec::Literal(text.to_string())
                    .resolve()
                    .map_err(|message| Error::Usage(format!("--{flag}: {message}")))
            })
            .transpose()
    };
    // Without --context, the context is unknown (partial evaluation).
    let context = args
        .context
        .as_deref()
        .map(|text| crate::access::parse_context(Some(text)))
        .transpose()?;
    Ok(Query {
        principal: uid("principal", &args.principal)?,
        action: uid("action", &args.action)?,
        resource: uid("resource", &args.resource)?,
        context,
    })
}
