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

/// A clock tests move by hand (JWT expiry, rate-limit windows).
final class TestClock: Sendable {
    private let t: Mutex<Int64>
    init(_ start: Int64 = fixedNow) { t = Mutex(start) }
    var now: Int64 { t.withLock { $0 } }
    func advance(_ seconds: Int64) { t.withLock { $0 += seconds } }
}

/// The contract configuration plus an `auth:` section.
func authYAML(_ auth: String, accounts: String? = nil) -> String {
    var yaml = contractYAML + "\nauth:\n" + auth.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
    if let accounts { yaml = yaml.replacingOccurrences(of: "  - id: other\n    tokens: [other-token]", with: accounts) }
    return yaml
}

func makeRuntime(yaml: String, clock: TestClock = TestClock(), environment: [String: String] = [:]) async throws -> TallyRuntime {
    let config = try ConfigLoader.load(yaml: withTestStore(yaml), environment: environment)
    let logger = Logger(label: "test")
    let store = try await TallyRuntime.openStore(config, logger: logger)
    return TallyRuntime(config: config, store: store, logger: logger, now: { clock.now })
}

let signingKey = "0123456789abcdef0123456789abcdef-key-a"
let signingKeyB = "fedcba9876543210fedcba9876543210-key-b"

@Suite struct CredentialTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false), ("127.0.0.1/32", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.2", false), ("192.168.1.0/23", "192.168.0.7", true), ("0.0.0.0/0", "8.8.8.8", true),
        ("::1/128", "::1", true), ("::1/128", "::2", false), ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::1", false), ("10.0.0.0/8", "::ffff:10.1.2.3", true), ("::/0", "1.2.3.4", true),
        ("fe80::/10", "fe80::1%eth0", true), ("2001:db8::1", "2001:0db8:0:0:0:0:0:1", true),
    ])
    func cidrMembership(network: String, address: String, expected: Bool) throws {
        let n = try #require(IPNetwork(network))
        let a = try #require(IPAddress(address))
        #expect(n.contains(a) == expected)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/33", "::1/129", "1::2::3", "12345::", "g::1", "1.2.3.4/", "/8", "1.2.3.4/-1", "::1/1a"])
    func invalidNetworksAreRefused(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func configReportsBadSecretsAndNetworksWithPaths() throws {
        let yaml = authYAML("jwt_keys: [too-short]\ntrusted_proxies: [10.0.0.0/40]\nadmin_tokens: [\"sha256:xyz\"]\nrate_limits: { nope: { limit: 1 }, native: { window: 0s } }",
                            accounts: "  - { id: other, tokens: [\"sha256:00\"], password: \"pbkdf2-sha256$1$AA$AA\", allowed_ips: [not-an-ip] }")
        #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, environment: [:]) }
        do {
            _ = try ConfigLoader.load(yaml: yaml, environment: [:])
        } catch let e as ConfigError {
            let paths = Set(e.problems.map(\.path))
            #expect(paths == ["auth.jwt_keys[0]", "auth.trusted_proxies[0]", "auth.admin_tokens[0]", "auth.rate_limits.nope", "auth.rate_limits.native.window",
                              "accounts[1].tokens[0]", "accounts[1].password", "accounts[1].allowed_ips[0]"])
            #expect(!e.description.contains("too-short"), "a key never appears in an error")
        }
    }

    @Test func environmentGivesAdminTokenAndJWTKeys() throws {
        let c = try ConfigLoader.load(yaml: contractYAML, environment: ["TALLY_ADMIN_TOKEN": "adm", "TALLY_JWT_KEYS": "\(signingKey), \(signingKeyB)"])
        #expect(c.auth.adminTokens == ["adm"])
        #expect(c.auth.jwtKeys == [signingKey, signingKeyB])
        #expect(c.auth.rateLimits["proxy_seller"] == .init(limit: 1000, window: 60))
    }

    @Test func bearerTokensClearOrHashed() async throws {
        let hashed = "sha256:" + Secrets.sha256Hex("other-secret")
        let rt = try await makeRuntime(yaml: authYAML("jwt_keys: [\(signingKey)]", accounts: "  - { id: other, tokens: [\"\(hashed)\"] }"))
        #expect(rt.bearerCaller(request(bearer: "other-secret"))?.account == "other")
        #expect(rt.bearerCaller(request(bearer: hashed)) == nil, "the digest itself is not a token")
        #expect(rt.bearerCaller(request(bearer: "acme-token-1")) == Caller(account: "acme", credential: "token:" + String(Secrets.sha256Hex("acme-token-1").prefix(12))))
        #expect(rt.bearerCaller(request(bearer: "ingest-secret")) == nil)
        #expect(rt.principal(request(bearer: "ingest-secret")) == .service)
        #expect(rt.bearerCaller(request(bearer: String(repeating: "x", count: 5000))) == nil)
        // The directory holds digests only.
        #expect(rt.directory["acme"]?.tokens == ["sha256:" + Secrets.sha256Hex("acme-token-1")])
        #expect(rt.directory["acme"]?.password?.contains("s3cret") == false)
    }

    @Test func loginIssuesA24HourJWTThatExpires() async throws {
        let clock = TestClock()
        let rt = try await makeRuntime(yaml: authYAML("jwt_keys: [\(signingKey)]"), clock: clock)
        #expect(await rt.login(username: "acme", password: "wrong") == nil)
        #expect(await rt.login(username: "nobody", password: "s3cret") == nil)
        #expect(await rt.login(username: "sub1", password: "") == nil, "an account without a password cannot log in")
        let jwt = try #require(await rt.login(username: "acme", password: "s3cret"))
        #expect(jwt.split(separator: ".").count == 3)
        #expect(rt.bearerCaller(request(bearer: jwt)) == Caller(account: "acme", credential: "login:acme"))
        #expect(rt.principal(request(bearer: jwt)) == .account("acme"))
        clock.advance(86400 - 1)
        #expect(rt.bearerCaller(request(bearer: jwt))?.account == "acme")
        clock.advance(1)
        #expect(rt.bearerCaller(request(bearer: jwt)) == nil, "expired after exactly 24 h")
    }

    @Test func forgedAndTamperedJWTsAreRefused() async throws {
        let rt = try await makeRuntime(yaml: authYAML("jwt_keys: [\(signingKey)]"))
        let jwt = try #require(await rt.login(username: "acme", password: "s3cret"))
        let parts = jwt.split(separator: ".").map(String.init)
        let otherSub = Base64.encode(Array(#"{"iss":"tally","sub":"other","gen":0,"iat":\#(fixedNow),"exp":\#(fixedNow + 86400)}"#.utf8), url: true)
        let none = Base64.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8), url: true)
        let foreign = JWT.sign(subject: "acme", generation: 0, issuedAt: fixedNow, key: .init(data: Data(signingKeyB.utf8)))
        for bad in [parts[0] + "." + otherSub + "." + parts[2], none + "." + parts[1] + ".", none + "." + parts[1] + "." + parts[2],
                    foreign, jwt + "x", "a.b.c", "..", jwt.replacingOccurrences(of: ".", with: "..")] {
            #expect(rt.bearerCaller(request(bearer: bad)) == nil, "\(bad)")
        }
    }

    @Test func keysRotateThroughTheKeyFileWithoutRestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-accounts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("jwt-keys").path
        try "# signing key first\n\(signingKey)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let rt = try await makeRuntime(yaml: authYAML("jwt_keys_file: \(file)"))
        let old = try #require(await rt.login(username: "acme", password: "s3cret"))

        // A new key goes first: new tokens use it, old tokens stay valid.
        try "\(signingKeyB)\n\(signingKey)\n".write(toFile: file, atomically: true, encoding: .utf8)
        let new = try #require(await rt.login(username: "acme", password: "s3cret"))
        #expect(new == JWT.sign(subject: "acme", generation: 0, issuedAt: fixedNow, key: .init(data: Data(signingKeyB.utf8))))
        #expect(rt.bearerCaller(request(bearer: old))?.account == "acme")

        // A short key in the file is refused whole; the keys read before stay.
        try "short\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(rt.bearerCaller(request(bearer: new))?.account == "acme")

        // The old key removed: its tokens end at once.
        try "\(signingKeyB)\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(rt.bearerCaller(request(bearer: old)) == nil)
        #expect(rt.bearerCaller(request(bearer: new))?.account == "acme")
    }

    @Test func hashedPasswordInConfiguration() async throws {
        let hash = Secrets.hashPassword("pw-other", rounds: 210_000)
        #expect(hash.hasPrefix("pbkdf2-sha256$210000$"))
        let rt = try await makeRuntime(yaml: authYAML("jwt_keys: [\(signingKey)]", accounts: "  - { id: other, username: oth, password: \"\(hash)\" }"))
        #expect(await rt.login(username: "oth", password: "pw-other") != nil)
        #expect(await rt.login(username: "oth", password: hash) == nil)
    }

    @Test func disabledAccountsAndTheirSubtreesHaveNoCredentials() async throws {
        let yaml = authYAML("jwt_keys: [\(signingKey)]").replacingOccurrences(of: "    allowed_ips: [127.0.0.1/32, \"::1/128\"]\n", with: "    allowed_ips: [127.0.0.1/32, \"::1/128\"]\n    disabled: true\n")
        let rt = try await makeRuntime(yaml: yaml)
        #expect(rt.bearerCaller(request(bearer: "acme-token-1")) == nil)
        #expect(rt.bearerCaller(request(bearer: "sub1-token")) == nil, "below a disabled account")
        #expect(await rt.login(username: "acme", password: "s3cret") == nil)
        #expect(rt.account("acme-sub1", within: "acme-sub1") == nil)
        #expect(rt.bearerCaller(request(bearer: "other-token"))?.account == "other")
    }

    @Test func rateLimitIsAFixedCalendarWindow() async throws {
        let clock = TestClock(fixedNow + 30)  // half-way through a minute
        let rt = try await makeRuntime(yaml: authYAML("rate_limits: { native: { limit: 3, window: 1m }, telnyx: { limit: 0 } }"), clock: clock)
        let c = Caller(account: "acme", credential: "token:abc")
        let decisions = (0..<4).map { _ in rt.admit(c, face: "native") }
        #expect(decisions.map(\.admitted) == [true, true, true, false])
        #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
        #expect(decisions[3] == RateDecision(admitted: false, limit: 3, remaining: 0, resetAt: fixedNow + 60, retryAfter: 30))
        #expect(rt.admit(Caller(account: "acme", credential: "token:def"), face: "native").admitted, "per credential")
        #expect(rt.admit(c, face: "iproyal").admitted, "per face")
        #expect(rt.admit(c, face: "telnyx") == RateDecision(admitted: true, limit: 0, remaining: 0, resetAt: fixedNow + 60, retryAfter: 0))
        clock.advance(30)
        #expect(rt.admit(c, face: "native") == RateDecision(admitted: true, limit: 3, remaining: 2, resetAt: fixedNow + 120, retryAfter: 0))
        // Proxy-Seller: 1000 per calendar minute by default.
        let ps = (0..<1001).map { _ in rt.admit(c, face: "proxy_seller").admitted }
        #expect(ps.filter { $0 }.count == 1000 && ps.last == false)
    }

    @Test func rateLimitHoldsUnderConcurrency() async throws {
        let rt = try await makeRuntime(yaml: authYAML("rate_limits: { native: { limit: 500, window: 1m } }"))
        let admitted = await withTaskGroup(of: Int.self) { group in
            for t in 0..<8 {
                group.addTask {
                    (0..<250).reduce(0) { n, _ in n + (rt.admit(Caller(account: "acme", credential: "token:\(t % 2)"), face: "native").admitted ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 1000, "two credentials, 500 each, out of 2000 attempts")
    }

    @Test func apiKeysHonourAllowListAndTrustedProxies() async throws {
        let yaml = authYAML("trusted_proxies: [127.0.0.1/32]", accounts: """
          - { id: other, api_keys: [key-any, "sha256:\(Secrets.sha256Hex("key-hashed"))"] }
          - { id: lan, api_keys: [key-lan], allowed_ips: [10.1.0.0/16, "2001:db8::/32"] }
        """)
        let rt = try await makeRuntime(yaml: yaml)
        let router = Router(context: TallyContext.self)
        router.get("probe/:key") { request, context -> String in
            switch rt.apiKeyCaller(context.parameters.get("key")!, request: request, context: context) {
            case .success(let c): "\(c.account) \(c.credential)"
            case .failure(let f): "\(f)"
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let keyAny = "other key:" + Secrets.sha256Hex("key-any").prefix(12)
            let cases: [(key: String, xff: String?, expected: String, why: String)] = [
                ("key-any", nil, keyAny, "no allow-list"),
                ("key-hashed", nil, "other key:" + Secrets.sha256Hex("key-hashed").prefix(12), "configured as a digest"),
                ("nope", nil, "unknown", "unknown key"),
                ("acme-token-1", nil, "unknown", "a bearer token is not a key"),
                ("fj4948ffhg58gh843gh", nil, "acme key:" + Secrets.sha256Hex("fj4948ffhg58gh843gh").prefix(12), "acme allows 127.0.0.1, the peer"),
                ("key-lan", nil, "ipNotAllowed", "lan allows 10.1/16 and 2001:db8::/32 only"),
                ("key-lan", "10.1.2.3", "lan key:" + Secrets.sha256Hex("key-lan").prefix(12), "the loopback peer is a trusted proxy"),
                ("key-lan", "2001:db8::7, 127.0.0.1", "lan key:" + Secrets.sha256Hex("key-lan").prefix(12), "trusted hops are skipped"),
                ("key-lan", "10.1.2.3, 192.0.2.1", "ipNotAllowed", "the right-most untrusted hop is the client"),
                ("key-lan", "garbage", "ipNotAllowed", "an unparsable hop"),
                ("fj4948ffhg58gh843gh", "203.0.113.9", "ipNotAllowed", "acme's client is now 203.0.113.9"),
            ]
            for c in cases {
                var h: HTTPFields = [:]
                if let xff = c.xff { h[HTTPField.Name("X-Forwarded-For")!] = xff }
                let got = try await client.execute(uri: "/probe/\(c.key)", method: .get, headers: h).text
                #expect(got == c.expected, "\(c.why)")
            }
        }
        // Without trusted proxies the header is ignored.
        let plain = try await makeRuntime(yaml: yaml.replacingOccurrences(of: "trusted_proxies: [127.0.0.1/32]", with: "trusted_proxies: []"))
        let router2 = Router(context: TallyContext.self)
        router2.get("probe/:key") { request, context -> String in
            if case .success(let c) = plain.apiKeyCaller(context.parameters.get("key")!, request: request, context: context) { return c.account }
            return "refused"
        }
        try await Application(router: router2, configuration: .init(address: .hostname("127.0.0.1", port: 0))).test(.live) { client in
            let r = try await client.execute(uri: "/probe/key-lan", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "10.1.2.3"])
            #expect(r.text == "refused")
        }
    }
}

/// A bare request carrying a bearer token (for the credential functions that read headers only).
func request(bearer token: String) -> Request {
    let head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/", headerFields: [.authorization: "Bearer \(token)"])
    return Request(head: head, body: .init(buffer: ByteBuffer()))
}
