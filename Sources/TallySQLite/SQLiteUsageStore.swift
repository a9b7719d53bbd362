import Dispatch
import Foundation
import Logging
import Synchronization
import TallyCore
import TallyStore

/// The embedded default `UsageStore`: one SQLite file in WAL mode.
///
/// Writes go through one connection on one queue with group commit: batches that arrive
/// while a transaction is being written share the next transaction (one fsync), each inside
/// its own savepoint so one bad batch never fails another. Reads use separate read-only
/// connections, so reports keep answering while ingest writes.
public final class SQLiteUsageStore: UsageStore, @unchecked Sendable {
    public let path: String
    let logger: Logger
    private let writerQueue = DispatchQueue(label: "tally.sqlite.writer")
    private let writer: Connection  // only touched on writerQueue
    private let readers = Mutex<[Connection]>([])
    private let layouts = Mutex<[String: Layout]>([:])
    private var seriesCache: [SeriesKey: Int64] = [:]  // writerQueue only
    private var accountIDs: [String: Int64] = [:]  // writerQueue only

    struct Pending {
        var batch: IngestBatch
        var window: Int64
        var continuation: CheckedContinuation<IngestReceipt, any Error>
    }
    private let pending = Mutex<(queue: [Pending], draining: Bool)>(([], false))

    struct SeriesKey: Hashable {
        var account: Int64
        var product: String
        var dims: [String]
    }

    /// Where each product's dimensions and metrics live among the fixed columns.
    struct Layout: Sendable {
        var dimensionColumns: [Int]
        var metricColumns: [Int]
    }

    static let columns = 8

    /// Opens (creating when missing) the database at `path`. `synchronous` FULL makes every
    /// acknowledged commit survive power loss, not only a process crash.
    public init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        writer = try Connection(path: path, readOnly: false)
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536;")
        try writer.execute(SQLiteUsageStore.schema)
    }

    static var schema: String {
        let d = (0..<columns).map { "d\($0) TEXT NOT NULL DEFAULT ''" }.joined(separator: ", ")
        let dk = (0..<columns).map { "d\($0)" }.joined(separator: ", ")
        let m = (0..<columns).map { "m\($0) INTEGER NOT NULL DEFAULT 0" }.joined(separator: ", ")
        var sql = """
        CREATE TABLE IF NOT EXISTS layout(product TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, col INTEGER NOT NULL, PRIMARY KEY(product, kind, name)) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
        CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, product TEXT NOT NULL, \(d), UNIQUE(account, product, \(dk))) STRICT;
        CREATE TABLE IF NOT EXISTS seen(key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID, STRICT;
        CREATE INDEX IF NOT EXISTS seen_at ON seen(at);
        CREATE TABLE IF NOT EXISTS receipts(key TEXT PRIMARY KEY, accepted INTEGER NOT NULL, duplicates INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS checkpoints(reader TEXT PRIMARY KEY, position TEXT NOT NULL) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID, STRICT;

        """
        for tier in Tier.allCases {
            sql += "CREATE TABLE IF NOT EXISTS agg_\(tier.seconds)(series INTEGER NOT NULL, bucket INTEGER NOT NULL, \(m), PRIMARY KEY(series, bucket)) WITHOUT ROWID, STRICT;\n"
        }
        return sql
    }

    // MARK: Layout

    public func prepare(products: ProductCatalog) async throws {
        let result: [String: Layout] = try await onWriter { [self] in
            try writer.execute("BEGIN IMMEDIATE")
            do {
                var out: [String: Layout] = [:]
                for p in products.products {
                    let dims = try assignColumns(product: p.name, kind: "d", names: p.dimensions)
                    let mets = try assignColumns(product: p.name, kind: "m", names: p.metrics.map(\.name))
                    out[p.name] = Layout(dimensionColumns: dims, metricColumns: mets)
                }
                try writer.execute("COMMIT")
                return out
            } catch {
                try? writer.execute("ROLLBACK")
                throw error
            }
        }
        layouts.withLock { $0 = result }
    }

    /// Keeps the column of every name seen before (so reordering the configuration is safe)
    /// and gives new names the free columns.
    private func assignColumns(product: String, kind: String, names: [String]) throws -> [Int] {
        let sel = try writer.prepare("SELECT name, col FROM layout WHERE product = ? AND kind = ?")
        sel.bind(1, product)
        sel.bind(2, kind)
        var existing: [String: Int] = [:]
        while try sel.step() { existing[sel.text(0)] = Int(sel.int(1)) }
        var used = Set(existing.values)
        var out: [Int] = []
        for name in names {
            if let c = existing[name] {
                out.append(c)
                continue
            }
            guard let free = (0..<SQLiteUsageStore.columns).first(where: { !used.contains($0) }) else {
                throw StoreError(.layout, "product \(product) has used all \(SQLiteUsageStore.columns) \(kind == "d" ? "dimension" : "metric") columns")
            }
            used.insert(free)
            let ins = try writer.prepare("INSERT INTO layout(product, kind, name, col) VALUES(?, ?, ?, ?)")
            ins.bind(1, product)
            ins.bind(2, kind)
            ins.bind(3, name)
            ins.bind(4, Int64(free))
            try ins.run()
            out.append(free)
        }
        return out
    }

    private func layout(_ product: String) throws -> Layout {
        guard let l = layouts.withLock({ $0[product] }) else { throw StoreError(.invalid, "unknown product \(product)") }
        return l
    }

    // MARK: Writing

    public func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        try await withCheckedThrowingContinuation { cont in
            let start = pending.withLock { p -> Bool in
                p.queue.append(Pending(batch: batch, window: dedupWindow, continuation: cont))
                if p.draining { return false }
                p.draining = true
                return true
            }
            if start { writerQueue.async { self.drain() } }
        }
    }

    /// Writes every waiting batch in one transaction, repeatedly, until none wait.
    private func drain() {
        while true {
            let group: [Pending] = pending.withLock { p in
                let g = p.queue
                p.queue = []
                if g.isEmpty { p.draining = false }
                return g
            }
            if group.isEmpty { return }
            var results: [Result<IngestReceipt, any Error>] = []
            var addedSeries: [SeriesKey] = []
            var addedAccounts: [String] = []
            do {
                try writer.execute("BEGIN IMMEDIATE")
                for (i, p) in group.enumerated() {
                    try writer.execute("SAVEPOINT b\(i)")
                    var newSeries: [SeriesKey] = []
                    var newAccounts: [String] = []
                    do {
                        let r = try write(p.batch, window: p.window, newSeries: &newSeries, newAccounts: &newAccounts)
                        try writer.execute("RELEASE b\(i)")
                        results.append(.success(r))
                        addedSeries += newSeries
                        addedAccounts += newAccounts
                    } catch {
                        try writer.execute("ROLLBACK TO b\(i); RELEASE b\(i)")
                        for k in newSeries { seriesCache[k] = nil }
                        for a in newAccounts { accountIDs[a] = nil }
                        results.append(.failure(publicError(error)))
                    }
                }
                try writer.execute("COMMIT")
            } catch {
                try? writer.execute("ROLLBACK")
                for k in addedSeries { seriesCache[k] = nil }
                for a in addedAccounts { accountIDs[a] = nil }
                let e = publicError(error)
                results = group.map { _ in .failure(e) }
            }
            writer.resetAll()
            for (p, r) in zip(group, results) { p.continuation.resume(with: r) }
        }
    }

    /// Maps backend failures to `StoreError`, logging the SQLite text instead of returning it.
    private func publicError(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        let text = String(describing: error)
        logger.error("sqlite write failed", metadata: ["store.error": "\(text)"])
        if text.contains("cannot store REAL") || text.contains("integer overflow") {
            return StoreError(.overflow, "a metric sum exceeds the 64-bit range")
        }
        return StoreError(.unavailable, "the store could not commit the batch")
    }

    private func write(_ batch: IngestBatch, window: Int64, newSeries: inout [SeriesKey], newAccounts: inout [String]) throws -> IngestReceipt {
        if let key = batch.idempotencyKey {
            let sel = try writer.prepare("SELECT accepted, duplicates FROM receipts WHERE key = ?")
            sel.bind(1, key)
            if try sel.step() {
                return IngestReceipt(accepted: Int(sel.int(0)), duplicates: Int(sel.int(1)), replayed: true)
            }
        }
        var acc = CellAccumulator()
        let seen = try writer.prepare("INSERT INTO seen(key, at) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET at = excluded.at WHERE seen.at <= ?3")
        for e in batch.events {
            if let k = e.dedupKey {
                seen.reset()
                seen.bind(1, k)
                seen.bind(2, batch.receivedAt)
                seen.bind(3, batch.receivedAt - window)
                try seen.run()
                if writer.changes == 0 {
                    acc.countDuplicate()
                    continue
                }
            }
            try acc.add(e)
        }
        var upserts: [Statement] = []
        var lastProduct = ""
        var layout = Layout(dimensionColumns: [], metricColumns: [])
        for (key, metrics) in acc.sortedCells() {
            if key.product != lastProduct {
                layout = try self.layout(key.product)
                lastProduct = key.product
                upserts = try Tier.allCases.map { try writer.prepare(upsertSQL(tier: $0, metricColumns: layout.metricColumns)) }
            }
            let series = try seriesID(account: key.account, product: key.product, dims: key.dimensions, layout: layout, newSeries: &newSeries, newAccounts: &newAccounts)
            for (tier, stmt) in zip(Tier.allCases, upserts) {
                stmt.reset()
                stmt.bind(1, series)
                stmt.bind(2, floorDiv(key.quarter, tier.seconds) * tier.seconds)
                for (i, v) in metrics.enumerated() { stmt.bind(Int32(3 + i), v) }
                try stmt.run()
            }
        }
        let receipt = IngestReceipt(accepted: acc.accepted, duplicates: acc.duplicates)
        if let key = batch.idempotencyKey {
            let ins = try writer.prepare("INSERT INTO receipts(key, accepted, duplicates, at) VALUES(?, ?, ?, ?)")
            ins.bind(1, key)
            ins.bind(2, Int64(receipt.accepted))
            ins.bind(3, Int64(receipt.duplicates))
            ins.bind(4, batch.receivedAt)
            try ins.run()
        }
        if let c = batch.checkpoint {
            let up = try writer.prepare("INSERT INTO checkpoints(reader, position) VALUES(?, ?) ON CONFLICT(reader) DO UPDATE SET position = excluded.position")
            up.bind(1, c.reader)
            up.bind(2, c.position)
            try up.run()
        }
        let meta = try writer.prepare("INSERT INTO meta(key, value) VALUES('last_commit', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        meta.bind(1, batch.receivedAt)
        try meta.run()
        if floorMod(batch.receivedAt, 60) == 0 || batch.events.count > 10_000 {
            let prune = try writer.prepare("DELETE FROM seen WHERE at <= ?")
            prune.bind(1, batch.receivedAt - window)
            try prune.run()
        }
        return receipt
    }

    private func upsertSQL(tier: Tier, metricColumns: [Int]) -> String {
        let cols = metricColumns.map { "m\($0)" }
        let params = metricColumns.indices.map { "?\($0 + 3)" }
        let sets = cols.map { "\($0) = \($0) + excluded.\($0)" }
        return "INSERT INTO agg_\(tier.seconds)(series, bucket, \(cols.joined(separator: ", "))) VALUES(?1, ?2, \(params.joined(separator: ", "))) ON CONFLICT(series, bucket) DO UPDATE SET \(sets.joined(separator: ", "))"
    }

    private func accountID(_ name: String, newAccounts: inout [String]) throws -> Int64 {
        if let id = accountIDs[name] { return id }
        let ins = try writer.prepare("INSERT INTO accounts(name) VALUES(?) ON CONFLICT(name) DO NOTHING")
        ins.bind(1, name)
        try ins.run()
        let sel = try writer.prepare("SELECT id FROM accounts WHERE name = ?")
        sel.bind(1, name)
        guard try sel.step() else { throw StoreError(.unavailable, "account row missing") }
        let id = sel.int(0)
        accountIDs[name] = id
        newAccounts.append(name)
        return id
    }

    private func seriesID(account: String, product: String, dims: [String], layout: Layout, newSeries: inout [SeriesKey], newAccounts: inout [String]) throws -> Int64 {
        let acct = try accountID(account, newAccounts: &newAccounts)
        var columns = [String](repeating: "", count: SQLiteUsageStore.columns)
        for (i, v) in dims.enumerated() where i < layout.dimensionColumns.count { columns[layout.dimensionColumns[i]] = v }
        let key = SeriesKey(account: acct, product: product, dims: columns)
        if let id = seriesCache[key] { return id }
        let dk = (0..<SQLiteUsageStore.columns).map { "d\($0)" }.joined(separator: ", ")
        let ph = (0..<SQLiteUsageStore.columns).map { "?\($0 + 3)" }.joined(separator: ", ")
        let where_ = (0..<SQLiteUsageStore.columns).map { "d\($0) = ?\($0 + 3)" }.joined(separator: " AND ")
        let ins = try writer.prepare("INSERT INTO series(account, product, \(dk)) VALUES(?1, ?2, \(ph)) ON CONFLICT DO NOTHING")
        let sel = try writer.prepare("SELECT id FROM series WHERE account = ?1 AND product = ?2 AND \(where_)")
        for s in [ins, sel] {
            s.reset()
            s.bind(1, acct)
            s.bind(2, product)
            for (i, v) in columns.enumerated() { s.bind(Int32(i + 3), v) }
        }
        try ins.run()
        let inserted = writer.changes > 0
        guard try sel.step() else { throw StoreError(.unavailable, "series row missing") }
        let id = sel.int(0)
        seriesCache[key] = id
        if inserted { newSeries.append(key) }
        return id
    }

    // MARK: Reading

    public func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let layout = try self.layout(q.product)
        let (sql, args) = SQLiteQueryBuilder.aggregate(q, layout: layout)
        return try await onReader { conn in
            let stmt = try conn.prepare(sql)
            stmt.bind(args)
            var rows: [StoreRow] = []
            let g = q.groupBy.count
            let offset: Int32 = q.groupByAccount ? 2 : 1
            while try stmt.step() {
                let groups = (0..<g).map { stmt.text(offset + Int32($0)) }
                let metrics = (0..<layout.metricColumns.count).map { stmt.int(offset + Int32(g) + Int32($0)) }
                rows.append(StoreRow(bucket: stmt.int(0), account: q.groupByAccount ? stmt.text(1) : nil, groups: groups, metrics: metrics))
            }
            return rows
        }
    }

    public func checkpoint(reader: String) async throws -> String? {
        try await onReader { conn in
            let s = try conn.prepare("SELECT position FROM checkpoints WHERE reader = ?")
            s.bind(1, reader)
            return try s.step() ? s.text(0) : nil
        }
    }

    public func stats() async throws -> StoreStats {
        let size = [path, path + "-wal"].reduce(Int64(0)) { total, p in
            total + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int64) ?? 0)
        }
        let last: Int64 = try await onReader { conn in
            let s = try conn.prepare("SELECT value FROM meta WHERE key = 'last_commit'")
            return try s.step() ? s.int(0) : 0
        }
        return StoreStats(bytesOnDisk: size, lastCommit: last)
    }

    /// Waits for queued writes, then checkpoints the WAL into the main file.
    public func close() async throws {
        try await onWriter { [self] in try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
        readers.withLock { $0.removeAll() }
    }

    /// The query plan SQLite chooses for a store query (`tally report --explain`).
    public func explain(_ q: StoreQuery) async throws -> [String] {
        let (sql, args) = SQLiteQueryBuilder.aggregate(q, layout: try layout(q.product))
        return try await onReader { conn in
            let s = try conn.prepare("EXPLAIN QUERY PLAN " + sql)
            s.bind(args)
            var lines: [String] = []
            while try s.step() { lines.append(s.text(3)) }
            return lines
        }
    }

    // MARK: Queues

    private func onWriter<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            writerQueue.async { cont.resume(with: Result { try body() }) }
        }
    }

    private func onReader<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { cont in
            DispatchQueue.global().async { [self] in
                cont.resume(with: Result {
                    let conn = try readers.withLock { $0.popLast() } ?? Connection(path: path, readOnly: true)
                    defer {
                        conn.resetAll()
                        readers.withLock { if $0.count < 8 { $0.append(conn) } }
                    }
                    do {
                        return try body(conn)
                    } catch let e as SQLiteError {
                        logger.error("sqlite read failed", metadata: ["store.error": "\(e)"])
                        if e.message.contains("overflow") { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
                        throw StoreError(.unavailable, "the store could not answer")
                    }
                })
            }
        }
    }
}

extension Connection: @unchecked Sendable {}
