import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TallyCore
@testable import TallyServer

// The authorization matrix: every endpoint × every identifier kind it takes × every relation
// of the target to the caller → served or refused, with refusals indistinguishable from an
// unknown identifier and no data of accounts outside the caller's subtree anywhere in a response.
//
// To add endpoints (a dialect): define `[MatrixEndpoint]` in your own test file and append it
// to `allMatrixEndpoints` below. The caller is always `acct-customer`; `MatrixSession` carries
// its credentials (bearer token, API key, username/password, a login JWT).

/// How a target account relates to the caller (`acct-customer`).
enum Relation: String, CaseIterable, Sendable {
    case own, ownDescendant, sibling, parent, otherTenant, unknown, disabled

    /// The account playing this relation (nil: an identifier no account holds).
    var account: String? {
        switch self {
        case .own: "acct-customer"
        case .ownDescendant: "acct-subuser"
        case .sibling: "acct-sibling"
        case .parent: "acct-reseller"
        case .otherTenant: "acct-othertenant"
        case .unknown: nil
        case .disabled: "acct-disabled"
        }
    }

    /// Served: the caller's own account and its active descendants.
    var served: Bool { self == .own || self == .ownDescendant }
}

/// The identifiers of a matrix account, by kind.
func matrixIdentifier(_ account: String?, _ kind: IdentifierKind) -> String {
    let base = account ?? "acct-nobody"
    let short = String(base.dropFirst(5))
    switch kind {
    case .any, .id: return base
    case .hash: return "01HASH" + short.uppercased().replacingOccurrences(of: "-", with: "X").padding(toLength: 20, withPad: "0", startingAt: 0)
    case .username: return "user-" + short
    case .packageKey: return "pkg-" + short
    }
}

/// The caller's credentials and the app under test.
struct MatrixSession: Sendable {
    let client: any TestClientProtocol
    let runtime: TallyRuntime
    let token = "tok-customer-0001"
    let apiKey = "key-customer-000000001"
    let username = "user-customer"
    let password = "pw-customer-secret"
    /// A JWT from `runtime.login` for the caller.
    let jwt: String
}

/// One endpoint of the matrix.
struct MatrixEndpoint: Sendable {
    var name: String
    /// The identifier kinds this endpoint accepts for its target.
    var kinds: [IdentifierKind]
    /// Performs the request as the caller, naming `target`.
    var call: @Sendable (MatrixSession, _ target: String) async throws -> TestResponse
    /// Whether a response served the target's data (as opposed to a refusal).
    var served: @Sendable (TestResponse) -> Bool
}

/// Every endpoint in the matrix (dialects append theirs here).
let allMatrixEndpoints: [MatrixEndpoint] = nativeMatrixEndpoints + dialectMatrixEndpoints

let nativeMatrixEndpoints: [MatrixEndpoint] = [
    MatrixEndpoint(name: "GET /v1/usage (json)", kinds: [.id, .hash, .username], call: { s, target in
        try await s.client.execute(uri: "/v1/usage?account=\(target)&product=residential&from=2026-01-01&to=2026-01-02&bucket=total&group_by=hostname",
                                   method: .get, headers: bearer(s.token))
    }, served: { $0.status == .ok }),
    MatrixEndpoint(name: "GET /v1/usage (csv, node)", kinds: [.id, .hash, .username], call: { s, target in
        try await s.client.execute(uri: "/v1/usage?account=\(target)&scope=node&product=residential&from=2026-01-01&to=2026-01-02&bucket=day&group_by=hostname&format=csv",
                                   method: .get, headers: bearer(s.token))
    }, served: { $0.status == .ok }),
    MatrixEndpoint(name: "GET /v1/usage (login JWT)", kinds: [.id, .hash, .username], call: { s, target in
        try await s.client.execute(uri: "/v1/usage?account=\(target)&product=residential&from=2026-01-01&to=2026-01-02&bucket=total",
                                   method: .get, headers: bearer(s.jwt))
    }, served: { $0.status == .ok }),
    MatrixEndpoint(name: "POST /v1/events (account token)", kinds: [.id, .hash, .username], call: { s, target in
        let e = #"{"time":"2026-01-01T05:00:00Z","account":"\#(target)","product":"residential","dimensions":{"hostname":"probe.example"},"metrics":{"bytes":1,"requests":1}}"#
        return try await s.client.execute(uri: "/v1/events", method: .post, headers: bearer(s.token), body: ByteBuffer(string: e))
    }, served: { $0.status == .ok }),
    MatrixEndpoint(name: "POST /api/v1/events (CloudEvents, account token)", kinds: [.id, .hash, .username], call: { s, target in
        let e = #"{"specversion":"1.0","id":"m-\#(UUID().uuidString)","source":"matrix","type":"residential","subject":"\#(target)","time":"2026-01-01T05:00:00Z","data":{"hostname":"probe.example","bytes":1,"requests":1}}"#
        var h = bearer(s.token)
        h[.contentType] = "application/cloudevents+json"
        return try await s.client.execute(uri: "/api/v1/events", method: .post, headers: h, body: ByteBuffer(string: e))
    }, served: { $0.status == .noContent }),
]

let matrixAccounts = ["acct-reseller", "acct-customer", "acct-subuser", "acct-disabled", "acct-sibling", "acct-othertenant"]

/// Distinct usage per account, so a leak of anyone's data is visible in any response: a
/// residential hostname, byte count and country, a messaging type and cost (in millionths).
func matrixMarker(_ account: String) -> (host: String, bytes: Int64, country: String, messageType: String, costMicros: Int64) {
    let i = Int64(matrixAccounts.firstIndex(of: account)! + 1)
    let short = account.dropFirst(5)
    return ("marker-\(short).example", i * 11_111_111 + 7, ["XR", "XC", "XU", "XD", "XB", "XO"][Int(i) - 1], "mt-\(short)", i * 1_111_111 + 3)
}

func matrixYAML() -> String {
    func node(_ id: String, _ extra: String = "") -> String {
        let short = id.dropFirst(5)
        return "{ id: \(id), hash: \(matrixIdentifier(id, .hash)), username: \(matrixIdentifier(id, .username)), package_key: \(matrixIdentifier(id, .packageKey)), "
            + "tokens: [tok-\(short)-0001], api_keys: [key-\(short)-000000001], password: pw-\(short)-secret\(extra) }"
    }
    let customer = node("acct-customer", ", children: [\(node("acct-subuser")), \(node("acct-disabled", ", disabled: true"))]")
    return """
    server: { host: 127.0.0.1, port: 0 }
    storage: { kind: memory }
    ingest: { tokens: [matrix-ingest] }
    auth: { admin_tokens: [matrix-admin-token], jwt_keys: ["\(signingKey)"] }
    products:
      residential:
        dimensions: [hostname, port, country, status]
        metrics: { bytes: { kind: integer }, requests: { kind: integer } }
      messaging:
        dimensions: [direction, currency, message_type, country_code]
        metrics: { cost: { kind: decimal, scale: 6 }, parts: { kind: integer }, count: { kind: integer } }
    accounts:
      - \(node("acct-reseller", ", children: [\(customer), \(node("acct-sibling"))]"))
      - \(node("acct-othertenant"))
    """
}

/// Builds the matrix app with each account's marker usage and runs `body` against it.
/// `yaml` edits the configuration; `live` serves over a real loopback socket (client addresses, allow-lists).
func withMatrixApp(yaml edit: (String) -> String = { $0 }, live: Bool = false, _ body: @Sendable @escaping (MatrixSession) async throws -> Void) async throws {
    let runtime = try await makeRuntime(yaml: edit(matrixYAML()))
    let events = matrixAccounts.map { a in
        let m = matrixMarker(a)
        return #"{"time":"2026-01-01T10:00:00Z","account":"\#(a)","product":"residential","dimensions":{"hostname":"\#(m.host)","country":"\#(m.country)"},"metrics":{"bytes":\#(m.bytes),"requests":1}}"#
            + "\n" + #"{"time":"2026-01-01T10:00:00Z","account":"\#(a)","product":"messaging","dimensions":{"direction":"outbound","currency":"USD","message_type":"\#(m.messageType)","country_code":"US"},"metrics":{"cost":"\#(RawMessage.decimal(m.costMicros))","parts":1,"count":1}}"#
    }.joined(separator: "\n")
    let jwt = try #require(await runtime.login(username: "user-customer", password: "pw-customer-secret"))
    try await buildApplication(runtime: runtime).test(live ? .live : .router) { client in
        let r = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("matrix-ingest"), body: ByteBuffer(string: events))
        try #require(r.status == .ok, "seeding: \(r.text)")
        try await body(MatrixSession(client: client, runtime: runtime, jwt: jwt))
    }
}

/// Everything a client can see of a response.
func visibleText(_ r: TestResponse) -> String {
    r.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n" + r.text
}

/// The data and identifiers of accounts outside the caller's subtree, except `allowed` (the
/// identifier the request itself named, which an answer may echo).
func foreignTraces(except allowed: String) -> [String] {
    ["acct-reseller", "acct-sibling", "acct-othertenant"].flatMap { a -> [String] in
        let m = matrixMarker(a)
        return [m.host, String(m.bytes), m.messageType, naturalDecimal(RawMessage.decimal(m.costMicros))] + [IdentifierKind.id, .hash, .username, .packageKey].map { matrixIdentifier(a, $0) }
    }.filter { $0 != allowed && !allowed.contains($0) }
}

/// A refusal with the named identifier masked, to compare refusals with one another.
func refusalShape(_ r: TestResponse, naming target: String) -> String {
    "\(r.status.code) \(r.headers[.contentType] ?? "") " + r.text.replacingOccurrences(of: target, with: "<target>")
}

@Suite struct AuthorizationMatrixTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let endpoint: Int
        let kind: IdentifierKind
        var testDescription: String { "\(allMatrixEndpoints[endpoint].name) by \(kind)" }
    }

    static let cases: [Case] = allMatrixEndpoints.indices.flatMap { i in allMatrixEndpoints[i].kinds.map { Case(endpoint: i, kind: $0) } }

    @Test(arguments: cases)
    func everyRelation(_ c: Case) async throws {
        try await withMatrixApp { s in try await Self.checkRelations(allMatrixEndpoints[c.endpoint], c.kind, s) }
    }

    /// Every relation of `kind` on `endpoint`: served exactly for the caller's subtree, refusals
    /// alike, no foreign data anywhere.
    static func checkRelations(_ endpoint: MatrixEndpoint, _ kind: IdentifierKind, _ s: MatrixSession) async throws {
        let unknownTarget = matrixIdentifier(nil, kind)
        let unknown = try await endpoint.call(s, unknownTarget)
        #expect(!endpoint.served(unknown), "unknown was served: \(unknown.text)")
        let refusal = refusalShape(unknown, naming: unknownTarget)
        for relation in Relation.allCases {
            let target = matrixIdentifier(relation.account, kind)
            let r = try await endpoint.call(s, target)
            let text = visibleText(r)
            #expect(endpoint.served(r) == relation.served, "\(endpoint.name) \(relation): \(r.status) \(r.text)")
            if !relation.served {
                #expect(refusalShape(r, naming: target) == refusal, "\(endpoint.name) \(relation) is told apart from unknown: \(r.text)")
            }
            for trace in foreignTraces(except: target) {
                #expect(!text.contains(trace), "\(endpoint.name) \(relation): \(trace) leaked in \(text)")
            }
        }
    }

    /// The caller's own report shows its own subtree's data and nothing else.
    @Test func servedReportsHoldOnlyTheSubtree() async throws {
        try await withMatrixApp { s in
            let r = try await s.client.execute(uri: "/v1/usage?product=residential&from=2026-01-01&to=2026-01-02&bucket=total&group_by=hostname&format=csv",
                                               method: .get, headers: bearer(s.token))
            let lines = r.text.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[2] }
            #expect(Set(lines) == Set(["acct-customer", "acct-subuser", "acct-disabled"].map { Substring(matrixMarker($0).host) }),
                    "a disabled descendant keeps its usage in its parent's report")
        }
    }

    /// Disabled, unknown or missing credentials get 401, whatever they ask for.
    @Test(arguments: ["tok-disabled-0001", "tok-nobody", "", "Bearer", "matrix-admin-token"])
    func refusedCredentials(_ token: String) async throws {
        try await withMatrixApp { s in
            for uri in ["/v1/usage?product=residential&from=2026-01-01&to=2026-01-02", "/v1/usage?account=acct-disabled&product=residential&from=2026-01-01&to=2026-01-02"] {
                let r = try await s.client.execute(uri: uri, method: .get, headers: token.isEmpty ? [:] : bearer(token))
                #expect(r.status == .unauthorized, "\(token): \(r.text)")
            }
        }
    }
}
