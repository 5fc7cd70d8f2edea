//! The OpenAPI 3.1 document, built from the routes as registered.

use serde_json::{json, Map, Value};

use crate::{Access, RouteDoc};

/// The document for `docs`.
pub fn document(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for d in docs {
        let mut params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(d.query.iter().map(
            |q| json!({"name": q, "in": "query", "required": false, "schema": {"type": "string"}}),
        ));
        let mut op = json!({
            "summary": d.summary,
            "description": format!("Access: {}.", d.access.describe()),
            "parameters": params,
            "responses": {
                "200": {"description": "OK (JSON)"},
                "201": {"description": "Created (JSON)"},
                "400": {"description": "Bad request: {error: {code, message, message_zh, field?, details?}}"},
                "401": {"description": "Not signed in"},
                "403": {"description": "Not allowed for this role or institution"},
                "404": {"description": "Not found"},
                "413": {"description": "Body over the route's limit (x-body-limit)"},
                "429": {"description": "Too many attempts (login): Retry-After"}
            }
        });
        if d.access != Access::Public {
            op["security"] = json!([{"bearer": []}]);
        }
        if let Some(media) = d.body {
            op["requestBody"] = json!({"required": true, "content": {media: {}}});
            op["x-body-limit"] = json!(d.body_limit);
        }
        let entry = paths.entry(d.path.to_owned()).or_insert_with(|| json!({}));
        entry[d.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "drgdip platform API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "DRG/DIP payment under a regional point-method budget: uploads, QC, grouping, points, configurations."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    })
}
