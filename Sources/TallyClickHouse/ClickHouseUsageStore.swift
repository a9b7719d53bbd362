import Logging
import Synchronization
import TallyCore
import TallyStore

/// Where a `ClickHouseUsageStore` finds its servers and how it treats them.
public struct ClickHouseStoreConfiguration: Sendable {
    /// Base URL of the node reads go to, e.g. `http://127.0.0.1:8123`; in a cluster, the node
    /// holding the Distributed tables (it may be one of the shards).
    public var url: String
    /// Database (created when missing); letters, digits and `_` only.
    public var database: String
    public var user: String?
    public var password: String?
    /// The cluster (a `remote_servers` entry of the `url` node) for sharded mode.
    public var cluster: String?
    /// Each shard's HTTP base URL, in the cluster's shard order (cluster mode only): tables are
    /// created and rows inserted on each shard directly, since `ON CLUSTER` needs ZooKeeper.
    public var shards: [String]
    /// Waits between attempts while ClickHouse does not answer or is busy; after the last one
    /// the call fails with `StoreError(.unavailable)`, which clients may retry.
    public var retryDelays: [Duration] = [.milliseconds(100), .milliseconds(300), .seconds(1)]
    /// Most events waiting for the writer; beyond it a commit fails at once with `.unavailable`,
    /// so a slow ClickHouse makes callers back off instead of filling memory.
    public var maxQueuedEvents = 2_000_000
    /// Most events one group commit gathers (a larger single batch still goes whole).
    public var maxEventsPerWrite = 262_144

    public init(url: String, database: String, user: String? = nil, password: String? = nil, cluster: String? = nil, shards: [String] = []) {
        self.url = url
        self.database = database
        self.user = user
        self.password = password
        self.cluster = cluster
        self.shards = shards
    }
}

/// The scale-out `UsageStore`: exact aggregates in ClickHouse over its HTTP interface, on one
/// node or on the shards of a cluster behind Distributed tables.
///
/// Layout and protocol are described in the README ("Running on ClickHouse"): one
/// SummingMergeTree table holds the cells of every tier plus receipts, checkpoints and commit
/// markers, so each write is one INSERT per shard; event ids live in `seen`, partitioned by
/// day, and count only once their write's marker exists.
public final class ClickHouseUsageStore: UsageStore {
    public let configuration: ClickHouseStoreConfiguration
    let session: ClickHouseSession
    private let layouts = Layouts()
    private let writer: CommitWriter

    private struct Queue {
        var waiting: [PendingCommit] = []
        var events = 0
        var draining = false
        var closed = false
    }
    private let queue = Mutex(Queue())

    /// `rootAccount` names the top-level account of an account: all rows of one top-level
    /// account go to one shard. Placement is only locality; reads are correct wherever rows are.
    public init(configuration: ClickHouseStoreConfiguration, logger: Logger, rootAccount: @escaping @Sendable (String) -> String = { $0 }) throws {
        guard ClickHouseTables.isValidDatabase(configuration.database) else {
            throw StoreError(.invalid, "storage.database must be letters, digits and _ (got \"\(configuration.database)\")")
        }
        if configuration.cluster != nil && configuration.shards.isEmpty {
            throw StoreError(.invalid, "storage.shards must list every shard's URL when storage.cluster is set")
        }
        if configuration.cluster == nil && !configuration.shards.isEmpty {
            throw StoreError(.invalid, "storage.shards needs storage.cluster")
        }
        self.configuration = configuration
        let shards = configuration.cluster == nil ? [configuration.url] : configuration.shards
        session = ClickHouseSession(
            http: ClickHouseHTTP(user: configuration.user, password: configuration.password),
            tables: ClickHouseTables(database: configuration.database, cluster: configuration.cluster),
            readNode: configuration.url, shards: shards.map(Self.trimmed), retryDelays: configuration.retryDelays, logger: logger)
        writer = CommitWriter(session: session, placement: Placement(shardCount: shards.count, rootAccount: rootAccount), layouts: layouts)
    }

    private static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    // MARK: Schema and layout

    /// Creates what is missing (database, tables on every shard, Distributed tables, layout),
    /// checks that existing tables have the columns this version writes, and gives new
    /// dimension and metric names their columns. Idempotent.
    public func prepare(products: ProductCatalog) async throws {
        if let cluster = configuration.cluster { try await checkCluster(cluster) }
        try await runAll(session.tables.shardSchema, on: session.shards)
        try await runAll(session.tables.homeSchema, on: [session.home])
        try await runAll(session.tables.distributedSchema, on: [session.readNode])
        for node in session.shards {
            try await checkColumns(session.tables.usageLocalName, Columns.usage, on: node)
            try await checkColumns(session.tables.seenLocalName, Columns.seen, on: node)
        }
        if configuration.cluster != nil {
            try await checkColumns("usage", Columns.usage, on: session.readNode)
            try await checkColumns("seen", Columns.seen, on: session.readNode)
        }
        try await assignLayouts(products)
        let last = try await session.rows(ClickHouseQueries.lastCommit(tables: session.tables)) { r throws(RowBinaryError) in try r.int64() }
        await writer.start(after: last.first ?? 0)
    }

    private func runAll(_ statements: [String], on nodes: [String]) async throws {
        for node in nodes {
            for sql in statements {
                do {
                    _ = try await session.run(sql, on: node)
                } catch {
                    throw session.storeError(error, "schema creation on \(node)")
                }
            }
        }
    }

    /// The cluster must exist on the read node with as many shards as `shards` lists (weights
    /// 1), and `shards[i]` must be shard i + 1, or rows would sit where Distributed reads miss them.
    private func checkCluster(_ cluster: String) async throws {
        let sql = "SELECT shard_num, shard_weight FROM system.clusters WHERE cluster = \(literal(cluster)) FORMAT RowBinary"
        let rows = try await session.rows(sql) { r throws(RowBinaryError) in (Int(try r.uint32()), Int(try r.uint32())) }
        let numbers = Set(rows.map(\.0))
        guard numbers == Set(1...session.shards.count), rows.allSatisfy({ $0.1 == 1 }) else {
            throw StoreError(.invalid, "cluster \(cluster) on \(configuration.url) must have exactly the \(session.shards.count) shards of storage.shards, each of weight 1 (found \(numbers.count))")
        }
        for (i, node) in session.shards.enumerated() {
            let own = "SELECT shard_num FROM system.clusters WHERE cluster = \(literal(cluster)) AND is_local = 1 FORMAT RowBinary"
            let local = try await session.rows(own, on: node) { r throws(RowBinaryError) in Int(try r.uint32()) }
            guard local.contains(i + 1) else {
                throw StoreError(.invalid, "storage.shards[\(i)] (\(node)) is not shard \(i + 1) of cluster \(cluster)")
            }
        }
    }

    private func checkColumns(_ table: String, _ expected: [(String, String)], on node: String) async throws {
        let found = try await session.rows(session.tables.columnsQuery(table: table), on: node) { r throws(RowBinaryError) in
            "\(try r.string()) \(try r.string())"
        }
        let want = expected.map { "\($0.0) \($0.1)" }
        guard found == want else {
            throw StoreError(.layout, "table \(configuration.database).\(table) on \(node) does not have the columns this version writes")
        }
    }

    private func assignLayouts(_ products: ProductCatalog) async throws {
        let sql = "SELECT product, kind, name, col FROM \(session.tables.layout) FORMAT RowBinary"
        let rows = try await session.rows(sql, on: session.home) { r throws(RowBinaryError) in (try r.string(), try r.string(), try r.string(), Int(try r.uint8())) }
        var existing: [String: [String: Int]] = [:]
        for (product, kind, name, col) in rows { existing[product + "\u{0}" + kind, default: [:]][name] = col }
        var result: [String: ColumnLayout] = [:]
        var added = RowBinaryWriter()
        var addedRows = 0
        for p in products.products {
            var columns: [[Int]] = []
            for (kind, names, capacity) in [("d", p.dimensions, Columns.dimensions), ("m", p.metrics.map(\.name), Columns.metrics)] {
                guard let (cols, new) = ColumnLayout.assign(existing: existing[p.name + "\u{0}" + kind] ?? [:], names: names, capacity: capacity) else {
                    throw StoreError(.layout, "product \(p.name) has used all \(capacity) \(kind == "d" ? "dimension" : "metric") columns")
                }
                for (name, col) in new {
                    added.string(p.name)
                    added.string(kind)
                    added.string(name)
                    added.uint8(UInt8(col))
                    addedRows += 1
                }
                columns.append(cols)
            }
            result[p.name] = ColumnLayout(dimensionColumns: columns[0], metricColumns: columns[1])
        }
        if addedRows > 0 {
            do {
                _ = try await session.http.execute(node: session.home, "INSERT INTO \(session.tables.layout) FORMAT RowBinary", data: added.bytes)
            } catch {
                throw session.storeError(error, "layout insert")
            }
        }
        layouts.current = result
    }

    private func layout(_ product: String) throws -> ColumnLayout {
        guard let l = layouts.current[product] else { throw StoreError(.invalid, "unknown product \(product)") }
        return l
    }

    // MARK: Writing

    public func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        try await withCheckedThrowingContinuation { cont in
            let pending = PendingCommit(batch: batch, window: dedupWindow, continuation: cont)
            let start = queue.withLock { q -> Bool? in
                if q.closed { return nil }
                if !q.waiting.isEmpty && q.events + batch.events.count > configuration.maxQueuedEvents { return nil }
                q.waiting.append(pending)
                q.events += batch.events.count
                if q.draining { return false }
                q.draining = true
                return true
            }
            switch start {
            case nil: cont.resume(throwing: StoreError(.unavailable, "the store is busy; retry later"))
            case true?: Task { await self.drain() }
            case false?: break
            }
        }
    }

    /// Hands waiting batches to the writer, a group at a time, until none wait.
    private func drain() async {
        while true {
            let group: [PendingCommit] = queue.withLock { q in
                var take = 0, events = 0
                while take < q.waiting.count && (take == 0 || events + q.waiting[take].batch.events.count <= configuration.maxEventsPerWrite) {
                    events += q.waiting[take].batch.events.count
                    take += 1
                }
                let g = Array(q.waiting.prefix(take))
                q.waiting.removeFirst(take)
                q.events -= events
                if g.isEmpty { q.draining = false }
                return g
            }
            if group.isEmpty { return }
            await writer.write(group)
        }
    }

    // MARK: Reading

    public func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let layout = try self.layout(q.product)
        guard let (sql, external) = ClickHouseQueries.aggregate(q, layout: layout, tables: session.tables, signed: try await signed()) else { return [] }
        let metrics = layout.metricColumns.count
        return try await session.rows(sql, external: external) { r throws(RowBinaryError) -> Result<StoreRow, StoreError> in
            let bucket = try r.int64()
            let account = q.groupByAccount ? try r.string() : nil
            var groups: [String] = []
            for _ in q.groupBy { groups.append(try r.string()) }
            var values: [Int64] = []
            var overflow = false
            for _ in 0..<metrics {
                let hi = try r.int64(), lo = try r.int64()
                if let v = joinHalves(hi: hi, lo: lo) { values.append(v) } else { overflow = true }
            }
            if overflow { return .failure(StoreError(.overflow, "a metric sum exceeds the 64-bit range")) }
            return .success(StoreRow(bucket: bucket, account: account, groups: groups, metrics: values))
        }.map { try $0.get() }
    }

    /// Whether a negative value was ever stored: once true it stays true; while false it is
    /// asked again (a primary-key lookup), since another process may be the writer.
    private func signed() async throws -> Bool {
        if layouts.signed { return true }
        let n = try await session.rows(ClickHouseQueries.signed(tables: session.tables)) { r throws(RowBinaryError) in try r.uint64() }
        if n.first ?? 0 > 0 { layouts.signed = true }
        return layouts.signed
    }

    public func checkpoint(reader: String) async throws -> String? {
        try await session.rows(ClickHouseQueries.checkpoint(reader, tables: session.tables)) { r throws(RowBinaryError) in try r.string() }.first
    }

    public func stats() async throws -> StoreStats {
        var bytes: Int64 = 0
        for node in session.shards {
            let sql = "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = \(literal(configuration.database)) AND active FORMAT RowBinary"
            bytes += try await session.rows(sql, on: node) { r throws(RowBinaryError) in Int64(clamping: try r.uint64()) }.first ?? 0
        }
        let last = try await session.rows(ClickHouseQueries.lastCommit(tables: session.tables)) { r throws(RowBinaryError) in
            _ = try r.int64()
            return try r.int64()
        }
        return StoreStats(bytesOnDisk: bytes, lastCommit: last.first ?? 0)
    }

    /// Refuses new commits, waits for the queued ones and settles a write left in doubt.
    public func close() async throws {
        queue.withLock { $0.closed = true }
        while queue.withLock({ $0.draining }) { try? await Task.sleep(for: .milliseconds(5)) }
        await writer.finish()
    }
}

/// The column layout of every prepared product, and whether a negative value was ever stored:
/// what the store and its writer share.
final class Layouts: Sendable {
    private let state = Mutex<[String: ColumnLayout]>([:])
    private let signedState = Mutex(false)

    var current: [String: ColumnLayout] {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    /// Set by the writer before it sends a write holding a negative value, never reset.
    var signed: Bool {
        get { signedState.withLock { $0 } }
        set { signedState.withLock { $0 = $0 || newValue } }
    }
}
