//! The node's id: configured, or generated once and kept in
//! `<data_dir>/node.id`, so a restarted node is the same node.

use anyhow::{Context, Result, bail};
use std::path::Path;

const FILE: &str = "node.id";

/// Letters, digits, `-` and `_`, 1 to 64 of them: it goes into Redis keys.
pub fn check(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("node id {id:?} is not 1 to 64 characters from [A-Za-z0-9_-]");
    }
    Ok(())
}

/// The configured id, else the one in the data dir, else a new one written
/// there.
pub fn resolve(configured: &str, data_dir: &Path) -> Result<String> {
    if !configured.is_empty() {
        check(configured)?;
        return Ok(configured.to_owned());
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_owned();
            check(&id).with_context(|| format!("{}", path.display()))?;
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 6];
            getrandom::fill(&mut bytes).context("generating a node id")?;
            let id = format!(
                "node-{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            std::fs::write(&path, format!("{id}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_is_kept_and_a_configured_one_wins() {
        let dir = std::env::temp_dir().join(format!("node-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = resolve("", &dir).unwrap();
        assert!(first.starts_with("node-") && first.len() == 17, "{first}");
        assert_eq!(resolve("", &dir).unwrap(), first);
        assert_eq!(resolve("eu-1", &dir).unwrap(), "eu-1");
        assert!(resolve("eu 1", &dir).is_err());
        std::fs::write(dir.join(FILE), "bad id!\n").unwrap();
        assert!(resolve("", &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
