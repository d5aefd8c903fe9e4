//! `local-platform`: runs the local Prisma platform (Management API and Prisma Auth emulator)
//! in the foreground until Ctrl-C or SIGTERM. It refuses to listen on anything but a loopback
//! address. Run `local-platform --help` for the options.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use local_platform::PlatformConfig;

const USAGE: &str = "\
Usage: local-platform [OPTIONS]

Runs the local Prisma platform (Management API and Prisma Auth emulator) on one loopback port.

Options:
  --host HOST                loopback address to listen on: 127.0.0.1, ::1 or localhost
                             [default: 127.0.0.1] [env: PLATFORM_HOST]
  --port PORT                TCP port; 0 picks a free one [default: 8790] [env: PLATFORM_PORT]
  --integration-token TOKEN  bearer token of the partner workspace
                             [default: local-integration-token] [env: PLATFORM_INTEGRATION_TOKEN]
  --client-id ID             OAuth client id [default: local-client-id] [env: PLATFORM_CLIENT_ID]
  --client-secret SECRET     OAuth client secret [default: local-client-secret]
                             [env: PLATFORM_CLIENT_SECRET]
  --redirect-uri URI         registered OAuth redirect URI; repeat for several. Replaces the
                             defaults http://127.0.0.1:8788/auth/callback and
                             http://localhost:8788/auth/callback
                             [env: PLATFORM_REDIRECT_URIS, comma-separated]
  --quiet                    do not log one JSON line per request to stderr
  -h, --help                 print this help
";

struct Options {
    host: String,
    port: u16,
    config: PlatformConfig,
}

/// Reads options from the environment, then from the command line, which wins.
fn parse_options(args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        host: "127.0.0.1".to_owned(),
        port: 8790,
        config: PlatformConfig {
            log_requests: true,
            ..PlatformConfig::default()
        },
    };

    if let Ok(host) = std::env::var("PLATFORM_HOST") {
        options.host = host;
    }
    if let Ok(port) = std::env::var("PLATFORM_PORT") {
        options.port = parse_port(&port).map_err(|error| format!("PLATFORM_PORT: {error}"))?;
    }
    if let Ok(token) = std::env::var("PLATFORM_INTEGRATION_TOKEN") {
        options.config.integration_token = token;
    }
    if let Ok(client_id) = std::env::var("PLATFORM_CLIENT_ID") {
        options.config.client_id = client_id;
    }
    if let Ok(secret) = std::env::var("PLATFORM_CLIENT_SECRET") {
        options.config.client_secret = secret;
    }
    if let Ok(uris) = std::env::var("PLATFORM_REDIRECT_URIS") {
        options.config.redirect_uris = uris
            .split(',')
            .map(str::trim)
            .filter(|uri| !uri.is_empty())
            .map(str::to_owned)
            .collect();
    }

    let mut redirect_uris_from_flags = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline_value.clone() {
                Some(value) => Ok(value),
                None => args.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };

        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--host" => options.host = value()?,
            "--port" => {
                options.port = parse_port(&value()?).map_err(|error| format!("--port: {error}"))?
            }
            "--integration-token" => options.config.integration_token = value()?,
            "--client-id" => options.config.client_id = value()?,
            "--client-secret" => options.config.client_secret = value()?,
            "--redirect-uri" => redirect_uris_from_flags.push(value()?),
            "--quiet" => options.config.log_requests = false,
            other => {
                return Err(format!(
                    "unknown option {other:?}; run local-platform --help"
                ))
            }
        }
    }
    if !redirect_uris_from_flags.is_empty() {
        options.config.redirect_uris = redirect_uris_from_flags;
    }

    for (name, value) in [
        ("integration token", &options.config.integration_token),
        ("client id", &options.config.client_id),
        ("client secret", &options.config.client_secret),
    ] {
        if value.trim().is_empty() {
            return Err(format!("the {name} must not be empty"));
        }
    }
    if options.config.redirect_uris.is_empty() {
        return Err("at least one redirect URI is required".to_owned());
    }
    Ok(Some(options))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a port number from 0 to 65535"))
}

/// Resolves `host` to a loopback address, rejecting every other address.
fn loopback_address(host: &str) -> Result<IpAddr, String> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let address: IpAddr = host.parse().map_err(|_| {
        format!("--host {host:?} is not an IP address; use 127.0.0.1, ::1 or localhost")
    })?;
    if !address.is_loopback() {
        return Err(format!(
            "--host {address} is not a loopback address; the local platform only listens on loopback (127.0.0.0/8 or ::1)"
        ));
    }
    Ok(address)
}

/// Waits for Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("local-platform: listening for Ctrl-C failed: {error}");
            std::future::pending::<()>().await;
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(error) => {
                eprintln!("local-platform: listening for SIGTERM failed: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("local-platform: {error}");
            return ExitCode::from(2);
        }
    };
    let address = match loopback_address(&options.host) {
        Ok(address) => address,
        Err(error) => {
            eprintln!("local-platform: {error}");
            return ExitCode::from(2);
        }
    };

    let listener = match tokio::net::TcpListener::bind(SocketAddr::new(address, options.port)).await
    {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "local-platform: binding {address} port {} failed: {error}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    let local_addr = match listener.local_addr() {
        Ok(local_addr) => local_addr,
        Err(error) => {
            eprintln!("local-platform: reading the listening address failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("local Prisma platform listening on http://{local_addr}");

    tokio::select! {
        result = local_platform::serve(listener, options.config) => {
            if let Err(error) = result {
                eprintln!("local-platform: serving failed: {error}");
                return ExitCode::FAILURE;
            }
        }
        _ = shutdown_signal() => {
            eprintln!("local-platform: stopped");
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn loopback_address_rejects_other_hosts() {
        assert!(loopback_address("127.0.0.1").is_ok());
        assert!(loopback_address("127.1.2.3").is_ok());
        assert!(loopback_address("::1").is_ok());
        assert!(loopback_address("[::1]").is_ok());
        assert!(loopback_address("localhost").is_ok());
        assert!(loopback_address("0.0.0.0").is_err());
        assert!(loopback_address("192.168.1.10").is_err());
        assert!(loopback_address("example.com").is_err());
    }

    #[test]
    fn flags_override_defaults() -> Result<(), String> {
        let options = parse_options(args(&[
            "--port=9000",
            "--client-id",
            "abc",
            "--redirect-uri",
            "http://127.0.0.1:1/cb",
            "--redirect-uri",
            "http://127.0.0.1:2/cb",
        ]))?
        .ok_or("help was printed instead")?;

        assert_eq!(options.port, 9000);
        assert_eq!(options.config.client_id, "abc");
        assert_eq!(
            options.config.redirect_uris,
            ["http://127.0.0.1:1/cb", "http://127.0.0.1:2/cb"]
        );
        Ok(())
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(parse_options(args(&["--port", "http"])).is_err());
        assert!(parse_options(args(&["--port"])).is_err());
        assert!(parse_options(args(&["--bogus"])).is_err());
        assert!(parse_options(args(&["--client-secret", ""])).is_err());
        assert!(matches!(parse_options(args(&["--help"])), Ok(None)));
    }
}
