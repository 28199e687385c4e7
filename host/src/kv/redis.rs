//! Key-value backend on a Redis server, shared by every host process that connects to it.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue as _,
    RedisError, Script, Value,
};

use super::{BackendError, KvBackend};

/// Maximum time for one attempt to open a connection, including authentication.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Maximum time for [`RedisBackend::connect`] as a whole.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// Number of retries of a failed reconnection attempt after a connection loss.
const RECONNECTION_RETRIES: usize = 2;

/// Growth factor of the delay between reconnection attempts.
///
/// NOTE: redis 0.32 passes this to `backon` 1.6, whose first delay is 1 s, so the delays are
/// about 1 s, then 2 s, each plus random jitter. The redis documentation says that a factor of
/// 1000 makes the delays whole seconds, which does not match that code.
const RECONNECTION_DELAY_FACTOR: u64 = 2;

/// Upper bound of one delay between reconnection attempts, in milliseconds.
const RECONNECTION_MAX_DELAY_MS: u64 = 4000;

/// Maximum wait for the reply to one command. It is generous because a value may be large.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Number of keys that SCAN is asked to examine per call. Redis takes it as a hint.
const SCAN_BATCH: usize = 1000;

/// Compare-and-swap in one Lua script, which Redis runs without interleaving other commands.
///
/// `KEYS[1]` is the key. `ARGV[1]` is `1` when `ARGV[2]` contains the expected value and `0` when
/// the key must be absent. `ARGV[3]` is the new value. The script returns `{1}` after writing,
/// `{0}` when the comparison failed on an absent key and `{0, current}` otherwise.
const COMPARE_AND_SWAP_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '1' then
    matches = current == ARGV[2]
else
    matches = current == false
end
if matches then
    redis.call('SET', KEYS[1], ARGV[3])
    return {1}
end
if current == false then
    return {0}
end
return {0, current}
";

/// Key-value backend on a Redis server.
///
/// Each key is stored as `{store}:{key}`. Store labels contain no `:`, so the first `:`
/// separates the label from the key. Counters are decimal text, as `INCRBY` expects.
pub struct RedisBackend {
    connection: ConnectionManager,
    compare_and_swap: Script,
    summary: String,
}

impl RedisBackend {
    /// Connects to the server at `url` (`redis://[user[:password]@]host[:port][/db]`) and checks
    /// that it replies to PING.
    ///
    /// # Errors
    /// Fails when the URL is invalid, or when the server does not accept the connection or
    /// does not reply within a few seconds. The message names the server without credentials.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // The parser's errors never quote the URL, which may contain a password.
        let client = Client::open(url).map_err(|error| {
            anyhow!("invalid Redis URL: {error}. Use the form redis://[user[:password]@]host[:port][/db]")
        })?;
        let summary = describe(client.get_connection_info());
        let password = client.get_connection_info().redis.password.clone();

        let connection = tokio::time::timeout(CONNECT_DEADLINE, open_and_ping(client))
            .await
            .map_err(|_| {
                anyhow!(
                    "timed out after {} s connecting to {summary}. Check that the server is \
                     running and reachable",
                    CONNECT_DEADLINE.as_secs()
                )
            })?
            .map_err(|error| {
                let detail = redact(&error.to_string(), password.as_deref());
                anyhow!("failed to connect to {summary}: {detail}")
            })?;

        Ok(Self {
            connection,
            compare_and_swap: Script::new(COMPARE_AND_SWAP_SCRIPT),
            summary,
        })
    }

    /// Returns a handle to the shared connection. All clones use one multiplexed connection.
    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// Checks the server with one connection attempt and a PING, then opens the managed connection.
///
/// The single attempt fails within [`CONNECTION_TIMEOUT`] with the actual cause (refused,
/// timed out, authentication), where the manager would first retry with growing delays.
async fn open_and_ping(client: Client) -> Result<ConnectionManager, RedisError> {
    let probe_config = AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECTION_TIMEOUT)
        .set_response_timeout(CONNECTION_TIMEOUT);
    let mut probe = client
        .get_multiplexed_async_connection_with_config(&probe_config)
        .await?;
    redis::cmd("PING").query_async::<()>(&mut probe).await?;
    drop(probe);

    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECTION_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(RECONNECTION_RETRIES)
        .set_factor(RECONNECTION_DELAY_FACTOR)
        .set_max_delay(RECONNECTION_MAX_DELAY_MS);
    ConnectionManager::new_with_config(client, config).await
}

/// Describes the server address as scheme, host and port, leaving out user name and password.
fn describe(info: &ConnectionInfo) -> String {
    let (scheme, host, port) = match &info.addr {
        ConnectionAddr::Tcp(host, port) => ("redis", host, port),
        ConnectionAddr::TcpTls { host, port, .. } => ("rediss", host, port),
        ConnectionAddr::Unix(path) => return format!("Redis socket {}", path.display()),
    };
    if host.contains(':') {
        format!("{scheme}://[{host}]:{port}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

/// Replaces `password` in `text`, in case a library message ever quotes it.
fn redact(text: &str, password: Option<&str>) -> String {
    match password {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text.to_owned(),
    }
}

/// Returns the Redis key of `key` in `store`.
fn full_key(store: &str, key: &str) -> String {
    format!("{store}:{key}")
}

/// Escapes the glob characters of SCAN's MATCH pattern.
///
/// Valid store labels contain none, so this only guards against a label the caller failed to
/// check.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// Maps an `INCRBY` error to the counter errors of the trait.
fn increment_error(error: RedisError, store: &str, key: &str) -> BackendError {
    if error.kind() == ErrorKind::ResponseError {
        let detail = error.detail().unwrap_or_default();
        // Redis 7 replies "ERR value is not an integer or out of range" and
        // "ERR increment or decrement would overflow".
        if detail.contains("not an integer") {
            return BackendError::NotACounter;
        }
        if detail.contains("overflow") {
            return BackendError::Overflow;
        }
    }
    let context = format!("failed to increment key {key:?} of store {store:?}");
    BackendError::Backend(anyhow::Error::new(error).context(context))
}

#[async_trait]
impl KvBackend for RedisBackend {
    async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        let value = redis::cmd("GET")
            .arg(full_key(store, key))
            .query_async(&mut self.connection())
            .await
            .with_context(|| format!("failed to read key {key:?} of store {store:?}"))?;
        Ok(value)
    }

    async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        redis::cmd("SET")
            .arg(full_key(store, key))
            .arg(value)
            .query_async::<()>(&mut self.connection())
            .await
            .with_context(|| format!("failed to write key {key:?} of store {store:?}"))?;
        Ok(())
    }

    async fn delete(&self, store: &str, key: &str) -> Result<(), BackendError> {
        redis::cmd("DEL")
            .arg(full_key(store, key))
            .query_async::<()>(&mut self.connection())
            .await
            .with_context(|| format!("failed to delete key {key:?} of store {store:?}"))?;
        Ok(())
    }

    async fn exists(&self, store: &str, key: &str) -> Result<bool, BackendError> {
        let exists = redis::cmd("EXISTS")
            .arg(full_key(store, key))
            .query_async(&mut self.connection())
            .await
            .with_context(|| format!("failed to look up key {key:?} of store {store:?}"))?;
        Ok(exists)
    }

    async fn list_keys(&self, store: &str) -> Result<Vec<String>, BackendError> {
        let prefix = full_key(store, "");
        let pattern = format!("{}*", escape_glob(&prefix));
        let mut connection = self.connection();
        // SCAN may return a key more than once while the server resizes its hash table.
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next_cursor, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut connection)
                .await
                .with_context(|| format!("failed to list the keys of store {store:?}"))?;
            for name in batch {
                let Some(key) = name.strip_prefix(prefix.as_bytes()) else {
                    continue;
                };
                match String::from_utf8(key.to_vec()) {
                    Ok(key) => {
                        if seen.insert(key.clone()) {
                            keys.push(key);
                        }
                    }
                    Err(_) => tracing::warn!(
                        store,
                        key = %String::from_utf8_lossy(key),
                        "skipping a Redis key that is not valid UTF-8"
                    ),
                }
            }
            // SCAN's iteration ends when the server returns cursor 0.
            if next_cursor == 0 {
                break;
            }
            cursor = next_cursor;
        }
        Ok(keys)
    }

    async fn get_many(
        &self,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, BackendError> {
        // MGET rejects an empty key list.
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full_keys: Vec<String> = keys.iter().map(|key| full_key(store, key)).collect();
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&full_keys)
            .query_async(&mut self.connection())
            .await
            .with_context(|| format!("failed to read {} keys of store {store:?}", keys.len()))?;
        if values.len() != keys.len() {
            return Err(anyhow!(
                "MGET returned {} values for {} keys of store {store:?}",
                values.len(),
                keys.len()
            )
            .into());
        }
        Ok(keys.iter().cloned().zip(values).collect())
    }

    async fn set_many(
        &self,
        store: &str,
        entries: &[(String, Vec<u8>)],
    ) -> Result<(), BackendError> {
        // MSET rejects an empty list.
        if entries.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("MSET");
        for (key, value) in entries {
            command.arg(full_key(store, key)).arg(value.as_slice());
        }
        command
            .query_async::<()>(&mut self.connection())
            .await
            .with_context(|| {
                format!("failed to write {} keys of store {store:?}", entries.len())
            })?;
        Ok(())
    }

    async fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), BackendError> {
        // DEL rejects an empty key list.
        if keys.is_empty() {
            return Ok(());
        }
        let full_keys: Vec<String> = keys.iter().map(|key| full_key(store, key)).collect();
        redis::cmd("DEL")
            .arg(&full_keys)
            .query_async::<()>(&mut self.connection())
            .await
            .with_context(|| format!("failed to delete {} keys of store {store:?}", keys.len()))?;
        Ok(())
    }

    async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, BackendError> {
        redis::cmd("INCRBY")
            .arg(full_key(store, key))
            .arg(delta)
            .query_async(&mut self.connection())
            .await
            .map_err(|error| increment_error(error, store, key))
    }

    async fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<Option<Option<Vec<u8>>>, BackendError> {
        let context = || format!("failed to compare and swap key {key:?} of store {store:?}");
        let mut invocation = self.compare_and_swap.key(full_key(store, key));
        match expected {
            Some(expected) => invocation.arg("1").arg(expected),
            None => invocation.arg("0").arg(""),
        };
        invocation.arg(new);

        // `invoke_async` sends EVALSHA and loads the script when the server does not have it.
        let reply: Vec<Value> = invocation
            .invoke_async(&mut self.connection())
            .await
            .with_context(context)?;
        match reply.as_slice() {
            [Value::Int(1)] => Ok(None),
            [Value::Int(0)] => Ok(Some(None)),
            [Value::Int(0), current] => {
                let current = Vec::<u8>::from_redis_value(current).with_context(context)?;
                Ok(Some(Some(current)))
            }
            _ => Err(
                anyhow!("unexpected reply {reply:?} from the compare-and-swap script")
                    .context(context())
                    .into(),
            ),
        }
    }

    fn summary(&self) -> String {
        self.summary.clone()
    }
}
