import Testing

@testable import TallyCore

// Small builders for configuration trees.
private func s(_ v: String) -> ConfigNode { .scalar(v) }
private func l(_ items: ConfigNode...) -> ConfigNode { .list(items) }
private func m(_ pairs: KeyValuePairs<String, ConfigNode>) -> ConfigNode { .map(pairs.map { ($0.key, $0.value) }) }

/// The problems `load` reports for a tree (empty when it loads).
private func problems(_ root: ConfigNode, env: [String: String] = [:]) -> [ConfigProblem] {
    do {
        _ = try TallyConfig.load(root, environment: env)
        return []
    } catch {
        return error.problems
    }
}

private let proxyProduct = m([
    "proxy": m([
        "dimensions": l(s("country"), s("protocol")),
        "metrics": m([
            "bytes": m(["kind": s("integer")]),
            "cost": m(["kind": s("decimal"), "scale": s("6")]),
        ]),
    ]),
])

@Suite("Config")
struct ConfigTests {
    @Test func validTree() throws {
        let root = m([
            "server": m(["host": s("0.0.0.0"), "port": s("9090")]),
            "storage": m(["kind": s("sqlite"), "path": s("/var/lib/tally/${DB}.db")]),
            "units": m(["byte_base": s("1000")]),
            "ingest": m([
                "tokens": l(s("${INGEST_TOKEN}"), s("plain")),
                "dedup_window": s("24h"),
                "max_future": s("5m"),
                "unassigned_account": s("unassigned"),
                "max_body_bytes": s("1048576"),
            ]),
            "products": proxyProduct,
            "accounts": l(
                m([
                    "id": s("reseller"), "name": s("Reseller Ltd"), "api_keys": l(s("k1")),
                    "children": l(
                        m(["id": s("acme"), "username": s("acme"), "hash": s("h-acme"), "package_key": s("pk-1"),
                           "tokens": l(s("t-acme")), "password": s("pw"), "allowed_ips": l(s("10.0.0.0/8")), "disabled": s("no")]),
                        m(["id": s("globex"), "username": s("gx"), "disabled": s("true")])
                    ),
                ]),
                m(["id": s("unassigned")])
            ),
            "tail": l(m(["path": s("/var/log/squid/access.log"), "product": s("proxy")])),
        ])
        let c = try TallyConfig.load(root, environment: ["DB": "main", "INGEST_TOKEN": "secret"])
        #expect(c.server.host == "0.0.0.0")
        #expect(c.server.port == 9090)
        #expect(c.storage.kind == "sqlite")
        #expect(c.storage.path == "/var/lib/tally/main.db")
        #expect(c.byteBase == 1000)
        #expect(c.ingest.tokens == ["secret", "plain"])
        #expect(c.ingest.dedupWindow == 86400)
        #expect(c.ingest.maxFuture == 300)
        #expect(c.ingest.unassignedAccount == "unassigned")
        #expect(c.ingest.maxBodyBytes == 1_048_576)
        let proxy = try #require(c.products["proxy"])
        #expect(proxy.dimensions == ["country", "protocol"])
        #expect(proxy.metrics == [MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "cost", kind: .decimal(scale: 6))])
        #expect(c.accounts.accounts.map(\.id) == ["reseller", "acme", "globex", "unassigned"])
        #expect(c.accounts.subtree(of: "reseller") == ["reseller", "acme", "globex"])
        let acme = try #require(c.accounts["acme"])
        #expect(acme.parentID == "reseller")
        #expect(acme.username == "acme" && acme.hash == "h-acme" && acme.packageKey == "pk-1")
        #expect(acme.tokens == ["t-acme"] && acme.password == "pw" && acme.allowedIPs == ["10.0.0.0/8"] && !acme.disabled)
        #expect(c.accounts["globex"]?.disabled == true)
        #expect(c.accounts.resolve("gx")?.id == "globex")
        #expect(c.accounts.resolve("h-acme")?.id == "acme")
        #expect(c.tail == [TallyConfig.Tail(path: "/var/log/squid/access.log", format: "squid", product: "proxy", logformat: nil)])
    }

    @Test func emptyTreeHasDefaults() throws {
        for root in [m([:]), ConfigNode.null] {
            let c = try TallyConfig.load(root, environment: [:])
            #expect(c.server.host == "127.0.0.1")
            #expect(c.server.port == 8080)
            #expect(c.storage.kind == "sqlite")
            #expect(c.storage.path == "tally-data/tally.db")
            #expect(c.byteBase == 1024)
            #expect(c.ingest.dedupWindow == 7 * 86400)
            #expect(c.ingest.maxFuture == 900)
            #expect(c.ingest.maxBodyBytes == 64 << 20)
            #expect(c.products.products.isEmpty)
            #expect(c.accounts.accounts.isEmpty)
        }
    }

    /// Every problem is reported at once, each with the path of its key.
    @Test func everyProblemAtOnce() {
        let root = m([
            "srever": m(["port": s("1")]),
            "server": m(["port": s("99999")]),
            "storage": m(["kind": s("mysql")]),
            "units": m(["byte_base": s("512")]),
            "ingest": m(["dedup_window": s("7 days"), "unassigned_account": s("nobody")]),
            "products": proxyProduct,
            "accounts": l(
                m(["id": s("a"), "children": l(m(["id": s("b"), "hash": s("H")]))]),
                m(["id": s("c"), "hash": s("H"), "usernme": s("c")])
            ),
            "tail": l(m(["path": s("/log"), "product": s("nope")])),
        ])
        let found = problems(root)
        let expected = [
            ConfigProblem("srever", "unknown key (expected one of: accounts, auth, ingest, meters, products, server, storage, tail, units)"),
            ConfigProblem("server.port", "expected an integer in 0...65535, got \"99999\""),
            ConfigProblem("storage.kind", "expected sqlite, memory or clickhouse, got \"mysql\""),
            ConfigProblem("units.byte_base", "expected 1000 or 1024, got 512"),
            ConfigProblem("ingest.dedup_window", "expected a duration like 90s, 15m, 24h or 7d, got \"7 days\""),
            ConfigProblem("accounts[1].hash", "duplicate of accounts[0].children[0].hash"),
            ConfigProblem("ingest.unassigned_account", "no account has id \"nobody\""),
            ConfigProblem("tail[0].product", "unknown product \"nope\""),
        ]
        for p in expected {
            #expect(found.contains(p), "missing \(p)")
        }
        #expect(found.contains { $0.path == "accounts[1].usernme" && $0.message.hasPrefix("unknown key") })
        #expect(found.count == expected.count + 1, "\(found)")
        // The error's description lists them all.
        do {
            _ = try TallyConfig.load(root, environment: [:])
            Issue.record("loaded an invalid configuration")
        } catch {
            #expect(error.description.hasPrefix("invalid configuration (9 problems):"))
            #expect(error.description.contains("  accounts[1].hash: duplicate of accounts[0].children[0].hash"))
        }
    }

    @Test func duplicateHashAcrossAccounts() {
        let root = m([
            "accounts": l(
                m(["id": s("a"), "children": l(m(["id": s("b"), "hash": s("H")]))]),
                m(["id": s("c"), "hash": s("H")])
            ),
        ])
        #expect(problems(root) == [ConfigProblem("accounts[1].hash", "duplicate of accounts[0].children[0].hash")])
    }

    /// An identifier value belongs to one account, whatever kind it is used as in each.
    @Test func duplicatesAcrossIdentifierKinds() {
        let root = m([
            "accounts": l(
                m(["id": s("acme"), "username": s("acme"), "hash": s("acme"), "package_key": s("acme")]),  // one account: fine
                m(["id": s("acme")]),
                m(["id": s("x"), "username": s("acme")]),
                m(["id": s("y"), "package_key": s("x")])
            ),
        ])
        #expect(problems(root) == [
            ConfigProblem("accounts[1].id", "duplicate of accounts[0].id"),
            ConfigProblem("accounts[2].username", "duplicate of accounts[0].id"),
            ConfigProblem("accounts[3].package_key", "duplicate of accounts[2].id"),
        ])
    }

    @Test func idMayEqualUsernameInOneAccount() throws {
        let root = m(["accounts": l(m(["id": s("acme"), "username": s("acme")]))])
        let c = try TallyConfig.load(root, environment: [:])
        #expect(c.accounts.resolve("acme")?.id == "acme")
        #expect(c.accounts.account(username: "acme")?.id == "acme")
    }

    @Test func accountProblems() {
        let root = m([
            "accounts": l(
                m(["name": s("no id")]),
                m(["id": s("")]),
                s("just a string"),
                m(["id": s("ok"), "disabled": s("maybe"), "children": s("x")])
            ),
        ])
        #expect(problems(root) == [
            ConfigProblem("accounts[0].id", "required"),
            ConfigProblem("accounts[1].id", "must not be empty"),
            ConfigProblem("accounts[2]", "expected a mapping"),
            ConfigProblem("accounts[3].disabled", "expected true or false, got \"maybe\""),
            ConfigProblem("accounts[3].children", "expected a list"),
        ])
    }

    @Test func environmentExpansion() throws {
        let root = m([
            "storage": m([
                "kind": s("clickhouse"), "url": s("http://${HOST}:${PORT}/"), "password": s("${PASS}"),
                "user": s("literal $ and {braces}"),
            ]),
        ])
        let c = try TallyConfig.load(root, environment: ["HOST": "ch.local", "PORT": "8123", "PASS": "p@ss"])
        #expect(c.storage.url == "http://ch.local:8123/")
        #expect(c.storage.password == "p@ss")
        #expect(c.storage.user == "literal $ and {braces}")
        #expect(c.storage.kind == "clickhouse")
    }

    @Test func missingEnvironmentVariablesAreReported() {
        let root = m([
            "storage": m(["kind": s("memory"), "password": s("${DB_PASS}")]),
            "ingest": m(["tokens": l(s("ok"), s("${TOKEN_A}-${TOKEN_B}"))]),
            "server": m(["host": s("${HOST")]),
        ])
        #expect(problems(root, env: ["TOKEN_A": "a"]) == [
            ConfigProblem("server.host", "unterminated ${ in value"),
            ConfigProblem("storage.password", "environment variable DB_PASS is not set"),
            ConfigProblem("ingest.tokens[1]", "environment variable TOKEN_B is not set"),
        ])
    }

    @Test func unknownKeysAreReportedWithPaths() {
        let root = m([
            "server": m(["prot": s("1")]),
            "units": m(["bytebase": s("1000")]),
            "products": m([
                "proxy": m([
                    "dimension": l(s("country")),
                    "metrics": m(["bytes": m(["kind": s("integer"), "unit": s("B")])]),
                ]),
            ]),
            "accounts": l(m(["id": s("a"), "children": l(m(["id": s("b"), "passwd": s("x")]))])),
            "tail": l(m(["path": s("/log"), "product": s("proxy"), "fromat": s("squid")])),
        ])
        let paths = problems(root).map(\.path)
        #expect(paths == [
            "server.prot", "units.bytebase", "products.proxy.dimension", "products.proxy.metrics.bytes.unit",
            "accounts[0].children[0].passwd", "tail[0].fromat",
        ])
        #expect(problems(root).allSatisfy { $0.message.hasPrefix("unknown key (expected one of: ") })
    }

    @Test(arguments: [
        ("1000", nil), ("1024", nil),
        ("512", "expected 1000 or 1024, got 512"),
        ("0", "expected 1000 or 1024, got 0"),
        ("1023", "expected 1000 or 1024, got 1023"),
        ("abc", "expected an integer in 0...1000000, got \"abc\""),
        ("-1024", "expected an integer in 0...1000000, got \"-1024\""),
        ("1e3", "expected an integer in 0...1000000, got \"1e3\""),
        ("99999999", "expected an integer in 0...1000000, got \"99999999\""),
    ] as [(String, String?)])
    func byteBase(value: String, problem: String?) throws {
        let root = m(["units": m(["byte_base": s(value)])])
        if let problem {
            #expect(problems(root) == [ConfigProblem("units.byte_base", problem)])
        } else {
            #expect(try TallyConfig.load(root, environment: [:]).byteBase == Int64(value))
        }
    }

    @Test func byteBaseMustBeAScalar() {
        #expect(problems(m(["units": m(["byte_base": l(s("1024"))])])) == [ConfigProblem("units.byte_base", "expected a string")])
    }

    @Test func productProblems() {
        let root = m([
            "products": m([
                "bad name": m(["metrics": m(["n": m([:])])]),
                "p": m([
                    "dimensions": l(s("date"), s("country"), s("country")),
                    "metrics": m([
                        "country": m([:]),
                        "cost": m(["kind": s("decimal")]),
                        "weird": m(["kind": s("float")]),
                    ]),
                ]),
                "empty": m(["dimensions": l(s("x"))]),
            ]),
        ])
        #expect(problems(root) == [
            ConfigProblem("products.bad name", "a product name is letters, digits, _ and - only"),
            ConfigProblem("products.p.dimensions[0]", "\"date\" is reserved"),
            ConfigProblem("products.p.dimensions[2]", "duplicate dimension \"country\""),
            ConfigProblem("products.p.metrics.country", "\"country\" is also a dimension"),
            ConfigProblem("products.p.metrics.cost.scale", "required for a decimal metric"),
            ConfigProblem("products.p.metrics.weird.kind", "expected integer or decimal, got \"float\""),
            ConfigProblem("products.empty.metrics", "a product needs at least one metric"),
        ])
    }

    @Test func rootMustBeAMapping() {
        #expect(problems(s("hello")) == [ConfigProblem("(root)", "expected a mapping")])
    }

    @Test(arguments: [("90s", Int64(90)), ("15m", 900), ("24h", 86400), ("7d", 604_800), ("0s", 0)])
    func durations(text: String, seconds: Int64) {
        #expect(ConfigReader.parseDuration(text) == seconds)
    }

    @Test(arguments: ["", "s", "10", "10w", "-5s", "1.5h", "5 m", "1000000000s"])
    func badDurations(text: String) {
        #expect(ConfigReader.parseDuration(text) == nil)
    }
}
