//! `avpctl import --store URI DIR`: read the store, build the project's
//! files (import::project_from), write them all or none, report.

use std::path::Path;

use super::{ExitCode, Settings};
use crate::cli::{ImportArgs, PlainFormat, SchemaFormatArg};
use crate::error::Error;
use crate::import::{Origin, SchemaForm};
use crate::report;
use crate::store::StoreAddress;

pub fn run(args: &ImportArgs, settings: &Settings) -> Result<ExitCode, Error> {
    crate::scaffold::require_new_directory(&args.dir, "import")?;
    let address = crate::store::resolve_address(
        &args.store,
        &crate::config::Config::default(),
        Path::new("."),
    )?;
    let origin = match &address {
        StoreAddress::Local(path) => {
            if !path.exists() {
                return Err(Error::Store(format!(
                    "{}: there is no store there to import",
                    address.describe()
                )));
            }
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            Origin::Local {
                uri: format!("local:{}", crate::source::display_path(&absolute)),
            }
        }
        StoreAddress::Avp { .. } => Origin::Avp {
            uri: args.store.clone(),
            region: args.aws.region.clone(),
        },
    };
    let mut store = crate::store::open(&address, &args.aws)?;
    let label = store.describe();
    let state = store
        .read()
        .map_err(|err| Error::Store(format!("{label}: {err}")))?;
    let form = match args.schema_format {
        SchemaFormatArg::Cedar => SchemaForm::Cedar,
        SchemaFormatArg::Json => SchemaForm::Json,
    };
    let imported = crate::import::project_from(&state, &origin, form);
    crate::scaffold::write_project(&args.dir, &imported.files)?;
    crate::output::print(&match args.format {
        PlainFormat::Human => report::import::human(&imported, &label, &args.dir, settings.out),
        PlainFormat::Json => {
            report::json::pretty(&report::import::json(&imported, &label, &args.dir))
        }
    })?;
    Ok(ExitCode::Success)
}
