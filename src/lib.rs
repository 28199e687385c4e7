//! The Efalia Doc ONLYOFFICE connector, a `wasi:http/proxy@0.2` component.
//!
//! It exports `wasi:http/incoming-handler` and imports `wasi:keyvalue/{store,batch,atomics}`
//! at `0.2.0-draft2` and `wasi:config/store` at `0.2.0-draft-2024-09-27`, the versions Spin 3.0
//! through 4.0 implement, so the same file runs under Spin and in `efalia-host`.
//!
//! Routes (one module each under [`routes`]):
//!
//! | route | caller |
//! |---|---|
//! | `POST /api/only-office/token` | Efalia web client: signs an editor configuration |
//! | `GET /api/only-office/{id}/acces` | Efalia web client: URLs for the Document Server |
//! | `GET /api/only-office/{id}/binaire` | Document Server: downloads the document |
//! | `/api/documents/...` | deployments: put documents in and get them out |
//! | `GET /health` | probes |
//! | `GET /api/only-office/openapi.json` | anyone: the OpenAPI 3.1 document of these routes |

mod bindings;
pub mod error;
pub mod fetch;
pub mod http;
pub mod kv;
mod log;
pub mod onlyoffice;
pub mod routes;
pub mod settings;
pub mod storage;
pub mod tokens;

// Native builds (unit tests) leave the export out: its symbol names, such as
// `wasi:http/incoming-handler@0.2.12#handle`, are not valid in a native linker's export list.
#[cfg(target_arch = "wasm32")]
struct Connector;

#[cfg(target_arch = "wasm32")]
wasi::http::proxy::export!(Connector);

#[cfg(target_arch = "wasm32")]
impl wasi::exports::http::incoming_handler::Guest for Connector {
    fn handle(request: wasi::http::types::IncomingRequest, out: wasi::http::types::ResponseOutparam) {
        let request = http::Request::new(request);
        routes::dispatch(&request).send(out);
    }
}
