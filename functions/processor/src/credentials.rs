//! The target database's credentials after a rotation: when the database refuses the ones the
//! processor started with, the secret behind `DATABASE_URL_SECRET_ARN` is read again and new
//! connections use what it holds now, without waiting for a cold start.

use std::time::{Duration, Instant};

use secrets::SecretReader;
use tokio::sync::Mutex;
use tracing::{info, warn};
use views::ViewStore;

/// How often the secret is read again at most. Rotation changes the password before the secret's
/// current version (Secrets Manager's setSecret step, then finishSecret): in between, neither the
/// database nor Secrets Manager is asked on every attempt; the message's next delivery asks again.
const REREAD_INTERVAL: Duration = Duration::from_secs(30);

pub struct CredentialRenewal {
    reader: SecretReader,
    /// When the secret was last read, and whether that changed the credentials.
    last_read: Mutex<Option<(Instant, bool)>>,
}

impl CredentialRenewal {
    pub fn new(reader: SecretReader) -> Self {
        Self {
            reader,
            last_read: Mutex::new(None),
        }
    }

    /// Whether `store` connects with other credentials than it did when the database refused
    /// them: the secret is read again, unless it was within [`REREAD_INTERVAL`], and then the
    /// answer of that read stands (concurrent refusals read it once).
    pub async fn renew(&self, store: &ViewStore) -> bool {
        let mut last_read = self.last_read.lock().await;
        if let Some((at, changed)) = *last_read
            && at.elapsed() < REREAD_INTERVAL
        {
            return changed;
        }
        let secret_id = &self.reader.reference().secret_id;
        let changed = match self.reader.read().await {
            Ok(value) => match store.use_database_url(&value) {
                Ok(true) => {
                    info!(
                        secret_id,
                        "read the database secret again: new connections use its credentials"
                    );
                    true
                }
                Ok(false) => {
                    warn!(
                        secret_id,
                        "the database refused the credentials its secret still holds"
                    );
                    false
                }
                Err(error) => {
                    warn!(secret_id, error = %error, "the database secret, read again, is unusable");
                    false
                }
            },
            Err(error) => {
                warn!(error = %error, "cannot read the database secret again");
                false
            }
        };
        *last_read = Some((Instant::now(), changed));
        changed
    }
}
