/// The whole configuration of a Tally instance (the keys are a contract: see the README).
public struct TallyConfig: Sendable {
    public struct Server: Sendable {
        /// `server.host`, default 127.0.0.1.
        public var host = "127.0.0.1"
        /// `server.port`, default 8080.
        public var port = 8080
    }

    public struct Storage: Sendable {
        /// `storage.kind`: `sqlite` (default), `memory` or `clickhouse`.
        public var kind = "sqlite"
        /// `storage.path`: the SQLite file, default `tally-data/tally.db`.
        public var path = "tally-data/tally.db"
        public var url: String?
        public var database: String?
        public var user: String?
        public var password: String?
        public var cluster: String?
        /// `storage.shards`: every shard's HTTP URL in the cluster's order (with `cluster`).
        public var shards: [String] = []
        /// `storage.accounts_path`: the SQLite file of run-time account changes when `kind` is
        /// clickhouse (default `tally-data/accounts.db`); sqlite keeps them in `path`, memory in memory.
        public var accountsPath = "tally-data/accounts.db"
    }

    public struct Ingest: Sendable {
        /// `ingest.tokens`: service tokens that may ingest for any account.
        public var tokens: [String] = []
        /// `ingest.dedup_window`: events with the same source and id inside it count once (default 7d).
        public var dedupWindow: Int64 = 7 * 86400
        /// `ingest.max_future`: how far past the server clock an event may be (default 15m).
        public var maxFuture: Int64 = 900
        /// `ingest.unassigned_account`: where log lines of unknown users go (none: rejected).
        public var unassignedAccount: String?
        /// `ingest.max_body_bytes`: the largest ingest request body (default 64 MiB).
        public var maxBodyBytes = 64 << 20
    }

    public struct Tail: Sendable, Equatable {
        public var path: String
        public var format: String
        public var product: String
        public var logformat: String?
    }

    public var server = Server()
    public var storage = Storage()
    /// `units.byte_base`: 1024 (default) or 1000; KB = base, MB = base², GB = base³.
    public var byteBase: Int64 = 1024
    public var ingest = Ingest()
    public var products: ProductCatalog
    public var accounts: AccountDirectory
    public var tail: [Tail] = []
    /// `auth`: admin token, JWT keys, trusted proxies, rate limits (see `AuthConfig`).
    public var auth = AuthConfig()
    /// `meters`: the OpenMeter dialect's meters (see `loadMeters`).
    public var meters: [MeterSpec]

    public init(products: ProductCatalog, accounts: [Account]) {
        self.products = products
        self.meters = MeterSpec.defaults(for: products)
        self.accounts = AccountDirectory(accounts)
    }

    /// Builds and validates a configuration, reporting every problem at once.
    public static func load(_ root: ConfigNode, environment: [String: String]) throws(ConfigError) -> TallyConfig {
        let r = ConfigReader(environment: environment)
        r.checkKeys(root, "", known: ["server", "storage", "units", "ingest", "products", "accounts", "tail", "meters", "auth"])
        if case .scalar = root { r.fail("(root)", "expected a mapping") }

        let serverNode = root["server"]
        r.checkKeys(serverNode, "server", known: ["host", "port"])
        var server = Server()
        if let h = r.string(serverNode?["host"], "server.host") { server.host = h }
        if let p = r.int(serverNode?["port"], "server.port", range: 0...65535) { server.port = p }

        let st = root["storage"]
        r.checkKeys(st, "storage", known: ["kind", "path", "url", "database", "user", "password", "cluster", "shards", "accounts_path"])
        var storage = Storage()
        if let k = r.string(st?["kind"], "storage.kind") {
            if ["sqlite", "memory", "clickhouse"].contains(k) { storage.kind = k } else { r.fail("storage.kind", "expected sqlite, memory or clickhouse, got \"\(k)\"") }
        }
        if let p = r.string(st?["path"], "storage.path") { storage.path = p }
        storage.url = r.string(st?["url"], "storage.url")
        storage.database = r.string(st?["database"], "storage.database")
        storage.user = r.string(st?["user"], "storage.user")
        storage.password = r.string(st?["password"], "storage.password")
        storage.cluster = r.string(st?["cluster"], "storage.cluster")
        if let p = r.string(st?["accounts_path"], "storage.accounts_path") { storage.accountsPath = p }
        if storage.kind == "clickhouse" && storage.url == nil { r.fail("storage.url", "required when storage.kind is clickhouse") }
        storage.shards = r.strings(st?["shards"], "storage.shards")
        let isHTTP = { (u: String) in u.hasPrefix("http://") || u.hasPrefix("https://") }
        if let u = storage.url, !isHTTP(u) { r.fail("storage.url", "expected an http:// or https:// URL, got \"\(u)\"") }
        for (i, u) in storage.shards.enumerated() where !isHTTP(u) { r.fail("storage.shards[\(i)]", "expected an http:// or https:// URL, got \"\(u)\"") }
        if storage.cluster != nil && storage.shards.isEmpty { r.fail("storage.shards", "required when storage.cluster is set: every shard's HTTP URL, in the cluster's order") }
        if storage.cluster == nil && !storage.shards.isEmpty { r.fail("storage.cluster", "required when storage.shards is set") }

        let units = root["units"]
        r.checkKeys(units, "units", known: ["byte_base"])
        var byteBase: Int64 = 1024
        if let b = r.int(units?["byte_base"], "units.byte_base", range: 0...1_000_000) {
            if b == 1000 || b == 1024 { byteBase = Int64(b) } else { r.fail("units.byte_base", "expected 1000 or 1024, got \(b)") }
        }

        let ing = root["ingest"]
        r.checkKeys(ing, "ingest", known: ["tokens", "dedup_window", "max_future", "unassigned_account", "max_body_bytes"])
        var ingest = Ingest()
        ingest.tokens = r.strings(ing?["tokens"], "ingest.tokens")
        if let d = r.duration(ing?["dedup_window"], "ingest.dedup_window") { ingest.dedupWindow = d }
        if let d = r.duration(ing?["max_future"], "ingest.max_future") { ingest.maxFuture = d }
        ingest.unassignedAccount = r.string(ing?["unassigned_account"], "ingest.unassigned_account")
        if let m = r.int(ing?["max_body_bytes"], "ingest.max_body_bytes", range: 1024...(1 << 30)) { ingest.maxBodyBytes = m }

        let products = loadProducts(root["products"], r)
        let accounts = loadAccounts(root["accounts"], r)
        let auth = AuthConfig.load(root["auth"], accounts: root["accounts"], environment: environment, r)
        let meters = loadMeters(root["meters"], r, products: products)
        if let u = ingest.unassignedAccount, !accounts.contains(where: { $0.id == u }) {
            r.fail("ingest.unassigned_account", "no account has id \"\(u)\"")
        }

        var tails: [Tail] = []
        for (i, node) in r.list(root["tail"], "tail").enumerated() {
            let p = "tail[\(i)]"
            r.checkKeys(node, p, known: ["path", "format", "product", "logformat"])
            let path = r.string(node["path"], "\(p).path")
            let format = r.string(node["format"], "\(p).format") ?? "squid"
            let product = r.string(node["product"], "\(p).product")
            if path == nil { r.fail("\(p).path", "required") }
            if format != "squid" { r.fail("\(p).format", "expected squid, got \"\(format)\"") }
            if let product, products[product] == nil { r.fail("\(p).product", "unknown product \"\(product)\"") }
            if product == nil { r.fail("\(p).product", "required") }
            if let path, let product { tails.append(Tail(path: path, format: format, product: product, logformat: r.string(node["logformat"], "\(p).logformat"))) }
        }

        guard r.problems.isEmpty else { throw ConfigError(problems: r.problems) }
        var config = TallyConfig(products: products, accounts: accounts)
        config.server = server
        config.storage = storage
        config.byteBase = byteBase
        config.ingest = ingest
        config.tail = tails
        config.auth = auth
        config.meters = meters
        return config
    }

    static func loadProducts(_ node: ConfigNode?, _ r: ConfigReader) -> ProductCatalog {
        var products: [ProductSpec] = []
        for (name, spec) in r.map(node, "products") {
            let p = "products.\(name)"
            if !isIdentifier(name) { r.fail(p, "a product name is letters, digits, _ and - only") }
            r.checkKeys(spec, p, known: ["dimensions", "metrics"])
            let dims = r.strings(spec["dimensions"], "\(p).dimensions")
            var seen = Set<String>()
            for (i, d) in dims.enumerated() {
                if !isIdentifier(d) { r.fail("\(p).dimensions[\(i)]", "a dimension name is letters, digits, _ and - only") }
                if !seen.insert(d).inserted { r.fail("\(p).dimensions[\(i)]", "duplicate dimension \"\(d)\"") }
                if ["date", "date_time", "start", "end", "account", "user_id", "product"].contains(d) {
                    r.fail("\(p).dimensions[\(i)]", "\"\(d)\" is reserved")
                }
            }
            if dims.count > ProductSpec.maxDimensions { r.fail("\(p).dimensions", "at most \(ProductSpec.maxDimensions) dimensions") }
            var metrics: [MetricSpec] = []
            for (mname, mnode) in r.map(spec["metrics"], "\(p).metrics") {
                let mp = "\(p).metrics.\(mname)"
                if !isIdentifier(mname) { r.fail(mp, "a metric name is letters, digits, _ and - only") }
                if seen.contains(mname) { r.fail(mp, "\"\(mname)\" is also a dimension") }
                r.checkKeys(mnode, mp, known: ["kind", "scale"])
                let kind = r.string(mnode["kind"], "\(mp).kind") ?? "integer"
                switch kind {
                case "integer":
                    metrics.append(MetricSpec(name: mname, kind: .integer))
                case "decimal":
                    let scale = r.int(mnode["scale"], "\(mp).scale", range: 1...12)
                    if mnode["scale"] == nil { r.fail("\(mp).scale", "required for a decimal metric") }
                    metrics.append(MetricSpec(name: mname, kind: .decimal(scale: scale ?? 6)))
                default:
                    r.fail("\(mp).kind", "expected integer or decimal, got \"\(kind)\"")
                }
            }
            if metrics.isEmpty { r.fail("\(p).metrics", "a product needs at least one metric") }
            if metrics.count > ProductSpec.maxMetrics { r.fail("\(p).metrics", "at most \(ProductSpec.maxMetrics) metrics") }
            products.append(ProductSpec(name: name, dimensions: dims, metrics: metrics))
        }
        return ProductCatalog(products)
    }

    static func loadAccounts(_ node: ConfigNode?, _ r: ConfigReader) -> [Account] {
        var out: [Account] = []
        var owners: [String: (path: String, account: String)] = [:]  // identifier value -> its first holder
        func visit(_ node: ConfigNode, _ path: String, parent: String?) {
            r.checkKeys(node, path, known: ["id", "name", "hash", "username", "package_key", "tokens", "api_keys", "password", "allowed_ips", "disabled", "children"])
            guard case .map = node else {
                r.fail(path, "expected a mapping")
                return
            }
            let id = r.string(node["id"], "\(path).id")
            if id == nil { r.fail("\(path).id", "required") }
            var a = Account(id: id ?? "", parentID: parent)
            a.name = r.string(node["name"], "\(path).name")
            a.hash = r.string(node["hash"], "\(path).hash")
            a.username = r.string(node["username"], "\(path).username")
            a.packageKey = r.string(node["package_key"], "\(path).package_key")
            a.tokens = r.strings(node["tokens"], "\(path).tokens")
            a.apiKeys = r.strings(node["api_keys"], "\(path).api_keys")
            a.password = r.string(node["password"], "\(path).password")
            a.allowedIPs = r.strings(node["allowed_ips"], "\(path).allowed_ips")
            a.disabled = r.bool(node["disabled"], "\(path).disabled") ?? false
            for (key, value) in [("id", id), ("hash", a.hash), ("username", a.username), ("package_key", a.packageKey)] {
                guard let value else { continue }
                if value.isEmpty { r.fail("\(path).\(key)", "must not be empty") }
                // One account may use the same value twice (id acme, username acme); two may not.
                if let first = owners[value] {
                    if first.account != path { r.fail("\(path).\(key)", "duplicate of \(first.path)") }
                } else {
                    owners[value] = ("\(path).\(key)", path)
                }
            }
            if id != nil { out.append(a) }
            for (i, child) in r.list(node["children"], "\(path).children").enumerated() {
                visit(child, "\(path).children[\(i)]", parent: id)
            }
        }
        for (i, n) in r.list(node, "accounts").enumerated() { visit(n, "accounts[\(i)]", parent: nil) }
        return out
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 }
    }
}
