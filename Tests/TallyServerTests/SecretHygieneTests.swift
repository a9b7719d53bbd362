import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import TallyCore
@testable import TallyServer

/// Every log line of a logger, with its metadata, for checking what logs say.
final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, b in b }
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
        }
    }

    var logger: Logger {
        var l = Logger(label: "captured") { _ in Handler(sink: self) }
        l.logLevel = .trace
        return l
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

@Suite struct SecretHygieneTests {
    /// Credentials used, refused, issued and rotated: no secret in any log line, response body,
    /// response header or metric.
    @Test func noSecretInLogsBodiesOrMetrics() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("keys").path
        let shortKey = "short-key-secret"
        try "\(signingKeyB)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        let logs = CapturedLogs()
        let yaml = authYAML("admin_tokens: [\(adminToken)]\njwt_keys_file: \(keyFile)")
            .replacingOccurrences(of: "storage: { kind: memory }", with: "storage: { kind: sqlite, path: \(dir.appendingPathComponent("t.db").path) }")
        let config = try ConfigLoader.load(yaml: yaml, environment: [:])
        let store = try await TallyRuntime.openStore(config, logger: logs.logger)
        let accounts = try await TallyRuntime.openAccounts(config, logger: logs.logger, now: { fixedNow })
        let rt = TallyRuntime(config: config, store: store, accounts: accounts, logger: logs.logger, now: { fixedNow })
        var secrets = ["acme-token-1", "sub1-token", "other-token", "ingest-secret", "s3cret", "fj4948ffhg58gh843gh", adminToken, signingKeyB, shortKey,
                       "given-token-value-0001", "new-password-0001", "wrong-password-01"]
        let jwt = try #require(await rt.login(username: "acme", password: "s3cret"))
        _ = await rt.login(username: "acme", password: "wrong-password-01")
        secrets.append(jwt)
        let seen = try await buildApplication(runtime: rt).test(.router) { client -> String in
            var responses: [TestResponse] = []
            responses.append(try await client.usage("acme-token-1"))
            responses.append(try await client.usage("acme-token-1x"))
            responses.append(try await client.usage(jwt))
            responses.append(try await client.usage("ingest-secret"))
            responses.append(try await client.execute(uri: "/v1/events", method: .post, headers: bearer("sub1-token"), body: ByteBuffer(string: "{bad json s3cret")))
            responses.append(try await client.admin(.post, "accounts", #"{"id":"h1","parent":"acme","password":"new-password-0001"}"#))
            responses.append(try await client.admin(.post, "accounts", #"{"id":"h2","password":"short"}"#))
            responses.append(try await client.admin(.post, "accounts/h1/tokens", #"{"secret":"given-token-value-0001"}"#))
            responses.append(try await client.admin(.post, "accounts/h1/tokens", #"{"secret":"given-token-value-0001"}"#))
            responses.append(try await client.admin(.post, "accounts/h1/api-keys", #"{"secret":"fj4948ffhg58gh843gh"}"#))
            responses.append(try await client.admin(.get, "accounts"))
            responses.append(try await client.admin(.get, "accounts", token: "acme-token-1"))
            try "\(shortKey)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
            responses.append(try await client.usage(jwt))
            responses.append(try await client.execute(uri: "/metrics", method: .get))
            // The one place a secret is shown: the answer that issues it.
            #expect(responses[7].text.contains("given-token-value-0001"))
            return responses.enumerated().filter { $0.offset != 7 }.map { visibleText($0.element) }.joined(separator: "\n")
        }
        try await rt.store.close()
        let logText = logs.text
        #expect(logText.contains("shorter than 32 bytes"), "the key file problem is logged")
        for s in secrets {
            #expect(!logText.contains(s), "a log line holds a secret")
            #expect(!seen.contains(s), "a response holds a secret")
        }
    }

    @Test func openAPIDocumentsAdminAndFilter() async throws {
        let app = buildApplication(runtime: try await makeRuntime())
        try await app.test(.router) { client in
            let doc = try #require(try await client.execute(uri: "/openapi.json", method: .get).json)
            for path in ["/v1/admin/accounts", "/v1/admin/accounts/{id}", "/v1/admin/accounts/{id}/tokens", "/v1/admin/accounts/{id}/tokens/{credential}",
                         "/v1/admin/accounts/{id}/api-keys", "/v1/admin/accounts/{id}/api-keys/{credential}"] {
                #expect(doc["paths"]?[path] != nil, "\(path)")
            }
            guard case .array(let params)? = doc["paths"]?["/v1/usage"]?["get"]?["parameters"] else { Issue.record("no parameters"); return }
            #expect(params.contains { $0["name"] == .string("filter") && $0["style"] == .string("deepObject") })
            #expect(doc["paths"]?["/v1/usage"]?["get"]?["responses"]?["429"] != nil)
        }
    }
}
