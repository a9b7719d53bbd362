import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TallyCore
import TallyStore
@testable import TallyServer

let adminToken = "admin-secret-token-0001"
let adminYAML = authYAML("admin_tokens: [\(adminToken)]\njwt_keys: [\(signingKey)]")

/// A runtime whose accounts persist in the SQLite file `path` (usage too).
func makeSQLiteRuntime(_ path: String, yaml: String = adminYAML, clock: TestClock = TestClock()) async throws -> TallyRuntime {
    let config = try ConfigLoader.load(yaml: yaml.replacingOccurrences(of: "storage: { kind: memory }", with: "storage: { kind: sqlite, path: \(path) }"), environment: [:])
    let logger = Logger(label: "test")
    let store = try await TallyRuntime.openStore(config, logger: logger)
    let accounts = try await TallyRuntime.openAccounts(config, logger: logger, now: { clock.now })
    return TallyRuntime(config: config, store: store, accounts: accounts, logger: logger, now: { clock.now })
}

func adminHeaders(_ token: String = adminToken) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }

extension TestClientProtocol {
    /// An admin call with a JSON body.
    func admin(_ method: HTTPRequest.Method, _ path: String, _ body: String? = nil, token: String = adminToken) async throws -> TestResponse {
        try await execute(uri: "/v1/admin/" + path, method: method, headers: adminHeaders(token), body: body.map { ByteBuffer(string: $0) })
    }

    func usage(_ token: String, account: String? = nil, extra: String = "") async throws -> TestResponse {
        let a = account.map { "account=\($0)&" } ?? ""
        return try await execute(uri: "/v1/usage?\(a)product=residential&from=2026-01-01&to=2026-01-02&bucket=total\(extra)", method: .get, headers: bearer(token))
    }
}

func scratchDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-accounts-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct AdminAPITests {
    /// Every admin endpoint × every non-admin credential → 401, saying nothing about accounts.
    @Test func onlyTheAdminTokenOpensTheAdminAPI() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        let jwt = try #require(await rt.login(username: "acme", password: "s3cret"))
        let endpoints: [(HTTPRequest.Method, String, String?)] = [
            (.get, "accounts", nil), (.post, "accounts", #"{"id":"x1"}"#), (.get, "accounts/acme", nil), (.get, "accounts/nobody", nil),
            (.patch, "accounts/acme-sub2", #"{"name":"n"}"#), (.post, "accounts/acme/tokens", nil), (.delete, "accounts/acme/tokens/0123456789ab", nil),
            (.post, "accounts/acme/api-keys", nil), (.delete, "accounts/acme/api-keys/0123456789ab", nil),
        ]
        try await buildApplication(runtime: rt).test(.router) { client in
            for (method, path, body) in endpoints {
                for token in ["", "wrong", "acme-token-1", "sub1-token", "ingest-secret", jwt, String(repeating: "a", count: 10_000)] {
                    let r = try await client.admin(method, path, body, token: token)
                    #expect(r.status == .unauthorized, "\(method) \(path) with \(token.prefix(12)): \(r.status)")
                    #expect(r.text == #"{"error":{"code":"unauthorized","message":"an admin token is required"}}"#)
                }
            }
            #expect(try await client.admin(.get, "accounts").status == .ok)
            // Nothing was created by the refused calls.
            #expect(rt.directory["x1"] == nil && rt.directory["acme"]?.tokens.count == 1)
        }
    }

    /// The admin API reaches every account by id; relations do not matter to the operator.
    @Test func adminMatrixByRelation() async throws {
        try await withMatrixApp { s in
            for relation in Relation.allCases {
                let id = matrixIdentifier(relation.account, .id)
                let get = try await s.client.admin(.get, "accounts/\(id)", token: "matrix-admin-token")
                let patch = try await s.client.admin(.patch, "accounts/\(id)", "{}", token: "matrix-admin-token")
                let issue = try await s.client.admin(.post, "accounts/\(id)/tokens", token: "matrix-admin-token")
                let child = try await s.client.admin(.post, "accounts", #"{"id":"child-of-\#(relation.rawValue)","parent":"\#(id)"}"#, token: "matrix-admin-token")
                let exists = relation != .unknown
                #expect(get.status == (exists ? .ok : .notFound), "\(relation)")
                #expect(patch.status == (exists ? .ok : .notFound), "\(relation)")
                #expect(issue.status == (exists ? .created : .notFound), "\(relation)")
                #expect(child.status == (exists ? .created : .notFound), "\(relation)")
                // Other kinds of identifier are not admin ids.
                for kind in [IdentifierKind.hash, .username, .packageKey] {
                    #expect(try await s.client.admin(.get, "accounts/\(matrixIdentifier(relation.account, kind))", token: "matrix-admin-token").status == .notFound)
                }
                // A reseller's own token is no admin token.
                #expect(try await s.client.admin(.get, "accounts/\(id)", token: "tok-reseller-0001").status == .unauthorized)
            }
            // The children of the disabled account are inactive too.
            #expect(try await s.client.admin(.get, "accounts/child-of-disabled", token: "matrix-admin-token").json?["active"] == .bool(false))
        }
    }

    @Test func accountLifecycleTakesEffectAtOnce() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        try await buildApplication(runtime: rt).test(.router) { client in
            let created = try await client.admin(.post, "accounts", #"{"id":"acme-sub3","parent":"acme","username":"sub3","hash":"01HQ5K3P97DY8EX9Y90YT1K6XC","password":"sub3-password","name":"Sub Three"}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json?["source"] == .string("runtime") && created.json?["password"] == .bool(true))
            #expect(!created.text.contains("sub3-password"))

            let issued = try await client.admin(.post, "accounts/acme-sub3/tokens")
            #expect(issued.status == .created)
            guard case .string(let token)? = issued.json?["secret"], case .string(let tokenID)? = issued.json?["id"] else { Issue.record("\(issued.text)"); return }
            #expect(token.hasPrefix("tly_") && token.utf8.count > 40)
            #expect(try await client.usage(token).status == .ok)
            #expect(try await client.usage("acme-token-1", account: "sub3").status == .ok, "the parent sees the new account")
            #expect(try await client.usage("other-token", account: "sub3").status == .notFound)
            // The listing shows credential ids, never secrets.
            let list = try await client.admin(.get, "accounts")
            #expect(list.text.contains(tokenID) && !list.text.contains(token))

            // Usage of the new account, then disable: its token stops at once, its usage stays.
            let e = event(nil, "2026-01-01T10:00:00Z", "sub3", bytes: 4242)
            #expect(try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: e)).status == .ok)
            let jwt = try #require(await rt.login(username: "sub3", password: "sub3-password"))
            #expect(try await client.admin(.patch, "accounts/acme-sub3", #"{"disabled":true}"#).json?["active"] == .bool(false))
            #expect(try await client.usage(token).status == .unauthorized)
            #expect(try await client.usage(jwt).status == .unauthorized)
            #expect(await rt.login(username: "sub3", password: "sub3-password") == nil)
            #expect(try await client.usage("acme-token-1", account: "sub3").status == .notFound)
            #expect(try await client.usage("acme-token-1", extra: "&format=csv").text.contains(",4242,"), "usage is kept")

            // Enabled again: the token works; the login from before the disable does not.
            #expect(try await client.admin(.patch, "accounts/acme-sub3", #"{"disabled":false}"#).status == .ok)
            #expect(try await client.usage(token).status == .ok)
            #expect(try await client.usage(jwt).status == .unauthorized)

            // Revoked: refused at once.
            #expect(try await client.admin(.delete, "accounts/acme-sub3/tokens/\(tokenID)").status == .noContent)
            #expect(try await client.usage(token).status == .unauthorized)
            #expect(try await client.admin(.delete, "accounts/acme-sub3/tokens/\(tokenID)").status == .notFound)

            // A new password ends earlier logins.
            let before = try #require(await rt.login(username: "sub3", password: "sub3-password"))
            #expect(try await client.admin(.patch, "accounts/acme-sub3", #"{"password":"new-password-1"}"#).status == .ok)
            #expect(try await client.usage(before).status == .unauthorized)
            #expect(await rt.login(username: "sub3", password: "new-password-1") != nil)
        }
    }

    @Test func moveChangesWhoSeesAnAccount() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        try await buildApplication(runtime: rt).test(.router) { client in
            #expect(try await client.admin(.post, "accounts", #"{"id":"r1","parent":"acme"}"#).status == .created)
            #expect(try await client.admin(.post, "accounts", #"{"id":"r2","parent":"r1"}"#).status == .created)
            #expect(try await client.usage("acme-token-1", account: "r2").status == .ok)
            let moved = try await client.admin(.patch, "accounts/r1", #"{"parent":"other"}"#)
            #expect(moved.json?["parent"] == .string("other"), "\(moved.text)")
            #expect(try await client.usage("acme-token-1", account: "r2").status == .notFound)
            #expect(try await client.usage("other-token", account: "r2").status == .ok)
            #expect(try await client.admin(.patch, "accounts/r1", #"{"parent":"r2"}"#).status == .conflict, "a cycle")
            #expect(try await client.admin(.patch, "accounts/r1", #"{"parent":"r1"}"#).status == .conflict)
            #expect(try await client.admin(.patch, "accounts/r1", #"{"parent":"nobody"}"#).status == .notFound)
            #expect(try await client.admin(.patch, "accounts/r1", #"{"parent":null}"#).json?["parent"] == .null)
            #expect(try await client.usage("other-token", account: "r2").status == .notFound)
        }
    }

    @Test func theConfigurationWinsForWhatItNames() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        try await buildApplication(runtime: rt).test(.router) { client in
            for (path, body) in [("accounts/acme", #"{"name":"x"}"#), ("accounts/acme", #"{"password":"whatever-1"}"#),
                                 ("accounts/acme", #"{"allowed_ips":[]}"#), ("accounts/acme-sub1", #"{"parent":"other"}"#),
                                 ("accounts/acme-sub1", #"{"username":"s1"}"#)] {
                let r = try await client.admin(.patch, path, body)
                #expect(r.status == .conflict && r.json?["error"]?["code"] == .string("configured"), "\(path) \(body): \(r.text)")
            }
            let configured = String(Secrets.sha256Hex("acme-token-1").prefix(12))
            #expect(try await client.admin(.delete, "accounts/acme/tokens/\(configured)").status == .conflict)
            // What it does not name can change: a configured account gets a password and an extra token.
            #expect(try await client.admin(.patch, "accounts/acme-sub2", #"{"password":"sub2-password","name":"Two"}"#).status == .ok)
            #expect(await rt.login(username: "sub2", password: "sub2-password") != nil)
            // Clearing what is not configured (a crash the fuzzer found: null identifiers).
            #expect(try await client.admin(.patch, "accounts/acme-sub1", #"{"package_key":null,"name":null}"#).status == .ok)
            #expect(try await client.admin(.post, "accounts", #"{"id":"sub1"}"#).status == .conflict, "an id that is another account's username")
            let extra = try await client.admin(.post, "accounts/acme/tokens", #"{"secret":"a-given-token-of-acme"}"#)
            #expect(extra.status == .created)
            #expect(try await client.usage("a-given-token-of-acme").status == .ok)
            #expect(try await client.usage("acme-token-1").status == .ok)
            // Disabling is allowed where the configuration does not say `disabled`.
            #expect(try await client.admin(.patch, "accounts/acme", #"{"disabled":true}"#).status == .ok)
            #expect(try await client.usage("acme-token-1").status == .unauthorized)
            #expect(try await client.usage("sub1-token").status == .unauthorized, "the whole subtree stops")
        }
    }

    @Test func badRequestsAreClear4xx() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        try await buildApplication(runtime: rt).test(.router) { client in
            let cases: [(HTTPRequest.Method, String, String?, HTTPResponse.Status, String)] = [
                (.post, "accounts", "{", .badRequest, "invalid_json"),
                (.post, "accounts", "[]", .badRequest, "invalid_json"),
                (.post, "accounts", #"{"name":"x"}"#, .badRequest, "invalid_account"),
                (.post, "accounts", #"{"id":"a b"}"#, .badRequest, "invalid_account"),
                (.post, "accounts", #"{"id":"acme"}"#, .conflict, "duplicate"),
                (.post, "accounts", #"{"id":"n1","username":"sub1"}"#, .conflict, "duplicate"),
                (.post, "accounts", #"{"id":"n1","hash":"01HQ5K3P97DY8EX9Y90YT1K6XA"}"#, .conflict, "duplicate"),
                (.post, "accounts", #"{"id":"n1","nope":1,"disabled":"yes"}"#, .badRequest, "invalid_account"),
                (.post, "accounts", #"{"id":"n1","allowed_ips":["10.0.0.0/33"]}"#, .badRequest, "invalid_account"),
                (.post, "accounts", #"{"id":"n1","password":"short"}"#, .badRequest, "invalid_account"),
                (.post, "accounts", #"{"id":"n1","parent":"nobody"}"#, .notFound, "parent_not_found"),
                (.patch, "accounts/nobody", "{}", .notFound, "account_not_found"),
                (.post, "accounts/acme/tokens", #"{"secret":"short"}"#, .badRequest, "invalid_secret"),
                (.post, "accounts/acme/tokens", #"{"secret":"sub1-token-is-taken"}"#, .created, ""),
                (.post, "accounts/acme/api-keys", #"{"secret":"sub1-token-is-taken"}"#, .conflict, "duplicate"),
                (.post, "accounts/acme/api-keys", #"{"secret":"fj4948ffhg58gh843gh"}"#, .conflict, "duplicate"),
                (.post, "accounts/acme/tokens", #"{"other":1}"#, .badRequest, "invalid_request"),
                (.post, "accounts", String(repeating: " ", count: 70_000), .contentTooLarge, "too_large"),
            ]
            for (method, path, body, status, code) in cases {
                let r = try await client.admin(method, path, body)
                #expect(r.status == status, "\(method) \(path) \(body?.prefix(60) ?? ""): \(r.text)")
                if !code.isEmpty { #expect(r.json?["error"]?["code"] == .string(code), "\(r.text)") }
            }
            // Invalid UTF-8 in a body.
            var buf = ByteBuffer(string: #"{"id":""#)
            buf.writeBytes([0xFF, 0xFE])
            buf.writeString(#""}"#)
            let r = try await client.execute(uri: "/v1/admin/accounts", method: .post, headers: adminHeaders(), body: buf)
            #expect(r.status == .badRequest)
            #expect(rt.directory["n1"] == nil)
        }
    }

    @Test func apiKeysAndAllowListAtRunTime() async throws {
        let rt = try await makeRuntime(yaml: adminYAML)
        try await buildApplication(runtime: rt).test(.router) { client in
            let k = try await client.admin(.post, "accounts/acme-sub2/api-keys")
            guard case .string(let key)? = k.json?["secret"], case .string(let keyID)? = k.json?["id"] else { Issue.record("\(k.text)"); return }
            #expect(rt.registry.snapshot.apiKeys[Secrets.sha256Hex(key)] == "acme-sub2")
            let set = try await client.admin(.patch, "accounts/acme-sub2", #"{"allowed_ips":["10.0.0.0/8","2001:DB8::/32"]}"#)
            #expect(set.json?["allowed_ips"] == .array([.string("10.0.0.0/8"), .string("2001:db8:0:0:0:0:0:0/32")]), "\(set.text)")
            #expect(rt.registry.snapshot.networks["acme-sub2"]?.count == 2)
            #expect(try await client.admin(.delete, "accounts/acme-sub2/api-keys/\(keyID)").status == .noContent)
            #expect(rt.registry.snapshot.apiKeys[Secrets.sha256Hex(key)] == nil)
        }
    }

    /// Changes survive a restart, in the SQLite file, with no secret in clear in it.
    @Test func changesPersistAcrossAReopenWithoutSecretsInClear() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tally.db").path
        let rt = try await makeSQLiteRuntime(path)
        let (token, key) = try await buildApplication(runtime: rt).test(.router) { client -> (String, String) in
            #expect(try await client.admin(.post, "accounts", #"{"id":"p1","parent":"acme","username":"persist-user","password":"persisted-password","allowed_ips":["::1/128"]}"#).status == .created)
            guard case .string(let t)? = try await client.admin(.post, "accounts/p1/tokens").json?["secret"],
                  case .string(let k)? = try await client.admin(.post, "accounts/p1/api-keys").json?["secret"] else { throw AccountChangeError(.invalid, "test", "no secrets issued") }
            #expect(try await client.admin(.post, "accounts/acme-sub1/tokens", #"{"secret":"extra-token-for-sub1"}"#).status == .created)
            #expect(try await client.admin(.patch, "accounts/acme-sub2", #"{"disabled":true,"name":"Two"}"#).status == .ok)
            return (t, k)
        }
        try await rt.store.close()
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let bytes = try Data(contentsOf: dir.appendingPathComponent(file))
            for secret in [token, key, "persisted-password", "extra-token-for-sub1"] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(file) holds a secret in clear")
            }
        }
        let again = try await makeSQLiteRuntime(path)
        try await buildApplication(runtime: again).test(.router) { client in
            #expect(try await client.usage(token).status == .ok)
            #expect(try await client.usage("extra-token-for-sub1").status == .ok)
            #expect(try await client.usage("sub1-token").status == .ok, "configured tokens stay")
            #expect(again.registry.snapshot.apiKeys[Secrets.sha256Hex(key)] == "p1")
            #expect(again.directory["p1"]?.parentID == "acme" && again.directory["p1"]?.allowedIPs == ["0:0:0:0:0:0:0:1/128"])
            #expect(again.directory["acme-sub2"]?.disabled == true && again.directory["acme-sub2"]?.name == "Two")
            #expect(await again.login(username: "persist-user", password: "persisted-password") != nil)
            let view = try await client.admin(.get, "accounts/acme-sub1")
            #expect(view.json?["tokens"] == .array([
                .object([("id", .string(String(Secrets.sha256Hex("sub1-token").prefix(12)))), ("source", .string("configuration"))]),
                .object([("id", .string(String(Secrets.sha256Hex("extra-token-for-sub1").prefix(12)))), ("source", .string("runtime"))]),
            ]))
        }
        try await again.store.close()
    }

    /// A configuration edited after run-time changes wins where it now names something.
    @Test func aLaterConfigurationOverridesStoredConflicts() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tally.db").path
        let rt = try await makeSQLiteRuntime(path)
        try await buildApplication(runtime: rt).test(.router) { client async throws in
            #expect(try await client.admin(.post, "accounts", #"{"id":"late","parent":"acme-sub2","username":"late-user"}"#).status == .created)
            #expect(try await client.admin(.post, "accounts/late/tokens", #"{"secret":"late-token-0000001"}"#).status == .created)
        }
        // The configuration now gives "late-user" to `other` and drops acme-sub2.
        let edited = adminYAML.replacingOccurrences(of: "      - { id: acme-sub2, username: sub2 }\n", with: "")
            .replacingOccurrences(of: "  - id: other\n", with: "  - id: other\n    username: late-user\n")
        let again = try await makeSQLiteRuntime(path, yaml: edited)
        #expect(again.directory["other"]?.username == "late-user")
        #expect(again.directory["late"]?.username == nil)
        #expect(again.directory["late"]?.parentID == nil, "its parent is gone: now top-level")
        #expect(again.bearerCaller(request(bearer: "late-token-0000001"))?.account == "late")
    }

    @Test func nativeRateLimitAnswers429WithRetryAfter() async throws {
        let clock = TestClock(fixedNow + 45)
        let rt = try await makeRuntime(yaml: authYAML("rate_limits: { native: { limit: 3, window: 1m } }"), clock: clock)
        try await buildApplication(runtime: rt).test(.router) { client in
            for _ in 0..<3 { #expect(try await client.usage("acme-token-1").status == .ok) }
            let refused = try await client.usage("acme-token-1")
            #expect(refused.status == .tooManyRequests)
            #expect(refused.headers[.retryAfter] == "15")
            #expect(refused.json?["error"]?["code"] == .string("rate_limited"))
            let ingest = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("acme-token-1"), body: ByteBuffer(string: event(nil, "2026-01-01T10:00:00Z", "acme")))
            #expect(ingest.status == .tooManyRequests, "ingest counts too")
            #expect(try await client.usage("sub1-token").status == .ok, "another credential has its own window")
            let service = try await client.execute(uri: "/v1/events", method: .post, headers: bearer("ingest-secret"), body: ByteBuffer(string: event(nil, "2026-01-01T10:00:00Z", "acme")))
            #expect(service.status == .ok, "service tokens are not limited")
            clock.advance(15)
            #expect(try await client.usage("acme-token-1").status == .ok)
        }
    }

    /// Bounded concurrent load on a real socket: admitted requests per window never pass the limit.
    @Test func rateLimitHoldsUnderConcurrentHTTPLoad() async throws {
        let rt = try await makeRuntime(yaml: authYAML("rate_limits: { native: { limit: 25, window: 1m } }"))
        try await buildApplication(runtime: rt).test(.live) { client in
            let statuses = try await withThrowingTaskGroup(of: [HTTPResponse.Status].self) { group in
                for _ in 0..<8 {
                    group.addTask { var out: [HTTPResponse.Status] = []; for _ in 0..<20 { out.append(try await client.usage("acme-token-1").status) }; return out }
                }
                return try await group.reduce([], +)
            }
            #expect(statuses.count == 160)
            #expect(statuses.filter { $0 == .ok }.count == 25)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 135)
        }
    }
}
