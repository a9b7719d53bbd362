import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import HummingbirdTesting
import Logging
import TallyCore
import TallyServer
import TallyStore

/// The configuration of the core issue (the contract's own example), with a sibling tenant.
let contractYAML = """
server:  { host: 127.0.0.1, port: 0 }
storage: { kind: memory }
units:   { byte_base: 1024 }
ingest:  { tokens: [ingest-secret], dedup_window: 1h }
products:
  residential:
    dimensions: [hostname, port, country, status]
    metrics: { bytes: { kind: integer }, requests: { kind: integer } }
  messaging:
    dimensions: [direction, currency, message_type, country_code]
    metrics: { cost: { kind: decimal, scale: 6 }, parts: { kind: integer }, count: { kind: integer } }
accounts:
  - id: acme
    name: Acme Proxies
    hash: 01HQ5K3P97DY8EX9Y90YT1K6XA
    username: acme
    package_key: abc123
    tokens: [acme-token-1]
    api_keys: [fj4948ffhg58gh843gh]
    password: s3cret
    allowed_ips: [127.0.0.1/32, "::1/128"]
    children:
      - { id: acme-sub1, hash: 01HQ5K3P97DY8EX9Y90YT1K6XB, username: sub1, tokens: [sub1-token] }
      - { id: acme-sub2, username: sub2 }
  - id: other
    tokens: [other-token]
"""

/// A fixed clock so "far future" and completeness are deterministic.
let fixedNow: Int64 = RFC3339.parse("2026-06-01T00:00:00Z")!

/// `extraYAML` adds top-level sections to the configuration (e.g. `auth:` rate limits).
func makeRuntime(storage: String = "memory", path: String? = nil, yaml base: String = contractYAML, extraYAML: String = "") async throws -> TallyRuntime {
    var yaml = base + "\n" + extraYAML
    if storage == "sqlite", let path { yaml = yaml.replacingOccurrences(of: "storage: { kind: memory }", with: "storage: { kind: sqlite, path: \(path) }") }
    let config = try ConfigLoader.load(yaml: withTestStore(yaml), environment: [:])
    let logger = Logger(label: "test")
    let store = try await TallyRuntime.openStore(config, logger: logger)
    return TallyRuntime(config: config, store: store, logger: logger, now: { fixedNow })
}

/// With `TALLY_TEST_STORE=clickhouse` (scripts/test's second run), a configuration asking for
/// the memory store gets ClickHouse at `TALLY_CLICKHOUSE_URL` in a fresh database instead, so
/// the whole API suite also runs on ClickHouse.
func withTestStore(_ yaml: String) -> String {
    let env = ProcessInfo.processInfo.environment
    guard env["TALLY_TEST_STORE"] == "clickhouse", let url = env["TALLY_CLICKHOUSE_URL"] else { return yaml }
    let database = "api_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    let accounts = FileManager.default.temporaryDirectory.appendingPathComponent("tally-\(database)-accounts.db").path
    return yaml.replacingOccurrences(
        of: "storage: { kind: memory }", with: "storage: { kind: clickhouse, url: \"\(url)\", database: \(database), accounts_path: \"\(accounts)\" }")
}

func event(_ id: String?, _ time: String, _ account: String, host: String = "example.com", bytes: Int64 = 1000, requests: Int64 = 1) -> String {
    let idField = id.map { "\"id\":\"\($0)\",\"source\":\"gw-1\"," } ?? ""
    return "{\(idField)\"time\":\"\(time)\",\"account\":\"\(account)\",\"product\":\"residential\",\"dimensions\":{\"hostname\":\"\(host)\",\"port\":\"443\",\"country\":\"US\",\"status\":\"200\"},\"metrics\":{\"bytes\":\(bytes),\"requests\":\(requests)}}"
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue? { try? JSONParser.parse(text) }
}
