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
///
/// Aggregates are kept as cell blocks (`CellBlock`): one blob per account, product, tier
/// bucket and commit, merged as they pile up (four fragments of one level become one of the
/// next), so a commit writes a row per block it touches instead of a row per cell and tier.
/// Dedup keys are appended as one run per commit and looked up in memory (`DedupIndex`).
public final class SQLiteUsageStore: UsageStore, @unchecked Sendable {
    public let path: String
    let logger: Logger
    private let writerQueue = DispatchQueue(label: "tally.sqlite.writer")
    private let writer: Connection  // only touched on writerQueue
    private let readers = Mutex<[Connection]>([])
    private let layouts = Mutex<[String: Layout]>([:])
    private var accountIDs: [ExactKey: Int64] = [:]  // writerQueue only
    private var dedup = DedupIndex()  // writerQueue only

    struct Pending {
        var batch: IngestBatch
        var window: Int64
        var continuation: CheckedContinuation<IngestReceipt, any Error>
    }
    private let pending = Mutex<(queue: [Pending], draining: Bool)>(([], false))

    /// Where each product's dimensions and metrics live among the fixed columns.
    struct Layout: Sendable {
        var dimensionColumns: [Int]
        var metricColumns: [Int]
    }

    static let columns = 8
    /// Fragments of one level that are merged into one of the next level.
    static let fanIn = 4

    /// Opens (creating when missing) the database at `path`. `synchronous` FULL makes every
    /// acknowledged commit survive power loss, not only a process crash.
    public init(path: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        writer = try Connection(path: path, readOnly: false)
        try writer.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536;")
        let old = try writer.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'agg_900'")
        if try old.step(), old.int(0) > 0 {
            throw StoreError(.layout, "\(path) holds aggregates in the layout of an earlier Tally version; load the usage into a new file")
        }
        old.reset()
        try writer.execute(SQLiteUsageStore.schema)
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS layout(product TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, col INTEGER NOT NULL, PRIMARY KEY(product, kind, name)) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE) STRICT;
        CREATE TABLE IF NOT EXISTS blocks(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, product TEXT NOT NULL, tier INTEGER NOT NULL, bucket INTEGER NOT NULL, level INTEGER NOT NULL, magnitude INTEGER NOT NULL, cells BLOB NOT NULL) STRICT;
        CREATE INDEX IF NOT EXISTS blocks_key ON blocks(account, product, tier, bucket);
        CREATE TABLE IF NOT EXISTS seen_keys(id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, keys BLOB NOT NULL) STRICT;
        CREATE INDEX IF NOT EXISTS seen_keys_at ON seen_keys(at);
        CREATE TABLE IF NOT EXISTS receipts(key TEXT PRIMARY KEY, accepted INTEGER NOT NULL, duplicates INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS checkpoints(reader TEXT PRIMARY KEY, position TEXT NOT NULL) WITHOUT ROWID, STRICT;
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID, STRICT;
        """

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
            var addedAccounts: [ExactKey] = []
            let dedupMark = dedup.mark
            let loadedThrough = dedup.loadedThrough
            do {
                try writer.execute("BEGIN IMMEDIATE")
                try loadDedupRuns()
                var runs: [Int64: [DedupKey]] = [:]
                for (i, p) in group.enumerated() {
                    try writer.execute("SAVEPOINT b\(i)")
                    var newAccounts: [ExactKey] = []
                    var newKeys: [DedupKey] = []
                    let mark = dedup.mark
                    do {
                        let r = try write(p.batch, window: p.window, newKeys: &newKeys, newAccounts: &newAccounts)
                        try writer.execute("RELEASE b\(i)")
                        results.append(.success(r))
                        addedAccounts += newAccounts
                        runs[p.batch.receivedAt, default: []] += newKeys
                    } catch {
                        try writer.execute("ROLLBACK TO b\(i); RELEASE b\(i)")
                        dedup.undo(to: mark)
                        for a in newAccounts { accountIDs[a] = nil }
                        results.append(.failure(publicError(error)))
                    }
                }
                var lastRun = dedup.loadedThrough
                for (at, keys) in runs.sorted(by: { $0.key < $1.key }) where !keys.isEmpty {
                    let ins = try writer.prepare("INSERT INTO seen_keys(at, keys) VALUES(?, ?)")
                    ins.bind(1, at)
                    ins.bind(2, blob: DedupIndex.run(keys))
                    try ins.run()
                    lastRun = writer.lastInsertRowID
                }
                let last = group[group.count - 1]
                let cutoff = last.batch.receivedAt - last.window
                let prune = try writer.prepare("DELETE FROM seen_keys WHERE at <= ?")
                prune.bind(1, cutoff)
                try prune.run()
                try writer.execute("COMMIT")
                // Every run up to `lastRun` is in the index: the others were read under this write lock.
                dedup.loadedThrough = lastRun
                dedup.commit(cutoff: cutoff)
            } catch {
                try? writer.execute("ROLLBACK")
                dedup.undo(to: dedupMark)
                dedup.loadedThrough = loadedThrough
                for a in addedAccounts { accountIDs[a] = nil }
                let e = publicError(error)
                results = group.map { _ in .failure(e) }
            }
            writer.resetAll()
            for (p, r) in zip(group, results) { p.continuation.resume(with: r) }
        }
    }

    /// Adds the dedup runs other writers committed since this one last looked.
    private func loadDedupRuns() throws {
        let sel = try writer.prepare("SELECT id, at, keys FROM seen_keys WHERE id > ? ORDER BY id")
        sel.bind(1, dedup.loadedThrough)
        while try sel.step() {
            dedup.load(run: sel.blob(2), at: sel.int(1))
            dedup.loadedThrough = sel.int(0)
        }
    }

    /// Maps backend failures to `StoreError`, logging the SQLite text instead of returning it.
    private func publicError(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        logger.error("sqlite write failed", metadata: ["store.error": "\(error)"])
        return StoreError(.unavailable, "the store could not commit the batch")
    }

    /// A series (by number in the batch's columns) in one tier bucket.
    struct SeriesBucket: Hashable {
        var series: Int32
        var bucket: Int64
    }

    /// Cells keyed by series and bucket, with their sums in one flat array.
    ///
    /// Indexed by open addressing with a multiplicative hash seeded per process: a commit
    /// looks up a cell per event and tier, and Swift's `Dictionary` spends most of that time
    /// setting up its hasher.
    struct Cells {
        let stride: Int
        private(set) var keys: [SeriesBucket] = []
        var sums: [Int64] = []
        private var slots = [Int32](repeating: -1, count: 1 << 10)
        private var shift: UInt64 = 64 - 10
        static let seed = UInt64.random(in: 0...UInt64.max) | 1

        init(stride: Int) { self.stride = stride }

        private func home(_ k: SeriesBucket) -> Int {
            let mixed = (UInt64(bitPattern: k.bucket) ^ (UInt64(UInt32(bitPattern: k.series)) &* 0x9E37_79B9_7F4A_7C15)) &* Cells.seed
            return Int(truncatingIfNeeded: mixed >> shift)
        }

        /// The number of the cell of `key`, adding it (with zero sums) when new.
        mutating func index(_ key: SeriesBucket) -> Int {
            let mask = slots.count - 1
            var slot = home(key)
            let found: Int32 = slots.withUnsafeBufferPointer { sl in
                keys.withUnsafeBufferPointer { k in
                    while sl[slot] >= 0 {
                        if k[Int(sl[slot])] == key { return sl[slot] }
                        slot = (slot + 1) & mask
                    }
                    return -1
                }
            }
            if found >= 0 { return Int(found) }
            let i = keys.count
            keys.append(key)
            sums += repeatElement(0, count: stride)
            slots[slot] = Int32(i)
            if keys.count * 2 > slots.count { grow() }
            return i
        }

        /// Adds `values` to the cell of `key`; throws instead of wrapping a sum.
        mutating func add(_ key: SeriesBucket, _ values: UnsafeBufferPointer<Int64>) throws(StoreError) {
            let m = index(key) * stride
            let overflow: Bool = sums.withUnsafeMutableBufferPointer { out in
                var o = false
                for (j, v) in values.enumerated() {
                    let (t, oj) = out[m + j].addingReportingOverflow(v)
                    out[m + j] = t
                    o = o || oj
                }
                return o
            }
            if overflow { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
        }

        private mutating func grow() {
            slots = [Int32](repeating: -1, count: slots.count * 2)
            shift -= 1
            let mask = slots.count - 1
            for (i, k) in keys.enumerated() {
                var slot = home(k)
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(i)
            }
        }
    }

    private func write(_ batch: IngestBatch, window: Int64, newKeys: inout [DedupKey], newAccounts: inout [ExactKey]) throws -> IngestReceipt {
        if let key = batch.idempotencyKey {
            let sel = try writer.prepare("SELECT accepted, duplicates FROM receipts WHERE key = ?")
            sel.bind(1, key)
            if try sel.step() {
                return IngestReceipt(accepted: Int(sel.int(0)), duplicates: Int(sel.int(1)), replayed: true)
            }
        }
        let c = batch.columns
        let cutoff = batch.receivedAt - window
        var quarters = Cells(stride: c.metricStride)
        var accepted = 0
        dedup.reserve(c.count)
        try c.metrics.withUnsafeBufferPointer { metrics in
            for i in 0..<c.count {
                if let k = c.keys[i] {
                    guard dedup.admit(k, at: batch.receivedAt, cutoff: cutoff) else { continue }
                    newKeys.append(k)
                }
                let series = c.eventSeries[i]
                let values = UnsafeBufferPointer(rebasing: metrics[(i * c.metricStride)..<(i * c.metricStride + c.seriesMetricCounts[Int(series)])])
                try quarters.add(SeriesBucket(series: series, bucket: floorDiv(c.times[i], 900) * 900), values)
                accepted += 1
            }
        }
        // Each tier from the one below it (hours from quarters, days from hours): fewer cells to add.
        var cells = quarters
        for tier in Tier.allCases {
            if tier != .quarterHour {
                let finer = cells
                cells = Cells(stride: c.metricStride)
                try finer.sums.withUnsafeBufferPointer { sums in
                    for (i, k) in finer.keys.enumerated() {
                        let values = UnsafeBufferPointer(rebasing: sums[(i * c.metricStride)..<(i * c.metricStride + c.seriesMetricCounts[Int(k.series)])])
                        try cells.add(SeriesBucket(series: k.series, bucket: floorDiv(k.bucket, tier.seconds) * tier.seconds), values)
                    }
                }
            }
            try writeBlocks(cells, tier: tier, columns: c, newAccounts: &newAccounts)
        }
        let receipt = IngestReceipt(accepted: accepted, duplicates: c.count - accepted)
        if let key = batch.idempotencyKey {
            let ins = try writer.prepare("INSERT INTO receipts(key, accepted, duplicates, at) VALUES(?, ?, ?, ?)")
            ins.bind(1, key)
            ins.bind(2, Int64(receipt.accepted))
            ins.bind(3, Int64(receipt.duplicates))
            ins.bind(4, batch.receivedAt)
            try ins.run()
        }
        if let cp = batch.checkpoint {
            let up = try writer.prepare("INSERT INTO checkpoints(reader, position) VALUES(?, ?) ON CONFLICT(reader) DO UPDATE SET position = excluded.position")
            up.bind(1, cp.reader)
            up.bind(2, cp.position)
            try up.run()
        }
        let meta = try writer.prepare("INSERT INTO meta(key, value) VALUES('last_commit', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        meta.bind(1, batch.receivedAt)
        try meta.run()
        return receipt
    }

    /// The key of one block: account and product (string numbers in the batch) and tier bucket.
    struct BlockKey: Hashable {
        var account: Int32
        var product: Int32
        var bucket: Int64
    }

    /// A tier's cells ordered so each block's (account, product, bucket) cells are one run, in
    /// the order they were added: a counting sort over block numbers, no comparisons.
    static func groupedByBlock(_ cells: Cells, columns c: EventColumns) -> (cells: [Int], runs: [Range<Int>]) {
        // A block is a pair (account and product, numbered per batch) and a bucket.
        var pairs = Cells(stride: 0)
        let pairOfSeries = c.series.map { Int32(pairs.index(SeriesBucket(series: $0[0], bucket: Int64($0[1])))) }
        var blocks = Cells(stride: 0)
        let blockOfCell = cells.keys.map { k in blocks.index(SeriesBucket(series: pairOfSeries[Int(k.series)], bucket: k.bucket)) }
        var starts = [Int](repeating: 0, count: blocks.keys.count + 1)
        for b in blockOfCell { starts[b + 1] += 1 }
        for b in 0..<blocks.keys.count { starts[b + 1] += starts[b] }
        var next = starts
        var order = [Int](repeating: 0, count: blockOfCell.count)
        for (i, b) in blockOfCell.enumerated() {
            order[next[b]] = i
            next[b] += 1
        }
        return (order, (0..<blocks.keys.count).map { starts[$0]..<starts[$0 + 1] })
    }

    /// Groups a tier's cells into blocks and writes one fragment per block.
    private func writeBlocks(_ cells: Cells, tier: Tier, columns c: EventColumns, newAccounts: inout [ExactKey]) throws {
        let order = SQLiteUsageStore.groupedByBlock(cells, columns: c)
        var local = [Int32](repeating: -1, count: c.strings.count)
        for run in order.runs {
            let members = order.cells[run]
            let first = cells.keys[members[members.startIndex]]
            let key = BlockKey(account: c.series[Int(first.series)][0], product: c.series[Int(first.series)][1], bucket: first.bucket)
            let product = c.strings[Int(key.product)]
            let layout = try self.layout(product)
            var block = CellBlock(dimensionColumns: (layout.dimensionColumns.max() ?? -1) + 1, metricColumns: (layout.metricColumns.max() ?? -1) + 1)
            var touched: [Int32] = []
            func localNumber(_ n: Int32) -> Int32 {
                if local[Int(n)] < 0 {
                    local[Int(n)] = Int32(block.strings.count)
                    block.strings.append(c.strings[Int(n)])
                    touched.append(n)
                }
                return local[Int(n)]
            }
            var empty: Int32 = -1
            block.dims.reserveCapacity(members.count * block.dimensionColumns)
            block.sums.reserveCapacity(members.count * block.metricColumns)
            for i in members {
                let s = c.series[Int(cells.keys[i].series)]
                let row = block.dims.count
                block.dims += repeatElement(-1, count: block.dimensionColumns)
                for (d, col) in layout.dimensionColumns.enumerated() where s[2 + d] >= 0 { block.dims[row + col] = localNumber(s[2 + d]) }
                for col in row..<block.dims.count where block.dims[col] < 0 {
                    if empty < 0 {
                        empty = Int32(block.strings.count)
                        block.strings.append("")
                    }
                    block.dims[col] = empty
                }
                let sums = block.sums.count
                block.sums += repeatElement(0, count: block.metricColumns)
                let metricCount = c.seriesMetricCounts[Int(cells.keys[i].series)]
                for (m, col) in layout.metricColumns.enumerated() where m < metricCount { block.sums[sums + col] = cells.sums[i * cells.stride + m] }
                block.count += 1
            }
            for n in touched { local[Int(n)] = -1 }
            let account = try accountID(c.strings[Int(key.account)], newAccounts: &newAccounts)
            try writeFragment(block, account: account, product: product, tier: tier, bucket: key.bucket)
        }
    }

    /// Adds a fragment to a block, merging fragments as they pile up, and checks for overflow
    /// exactly (by merging) whenever the magnitude bounds cannot rule it out.
    private func writeFragment(_ fragment: CellBlock, account: Int64, product: String, tier: Tier, bucket: Int64) throws {
        let sel = try writer.prepare("SELECT id, level, magnitude FROM blocks WHERE account = ? AND product = ? AND tier = ? AND bucket = ?")
        sel.bind(1, account)
        sel.bind(2, product)
        sel.bind(3, tier.seconds)
        sel.bind(4, bucket)
        var existing: [(id: Int64, level: Int, magnitude: Int64)] = []
        while try sel.step() { existing.append((sel.int(0), Int(sel.int(1)), sel.int(2))) }
        var bound = fragment.magnitude
        for e in existing { bound = bound.addingReportingOverflow(e.magnitude).overflow ? .max : bound + e.magnitude }
        // Merge the levels that would hold `fanIn` fragments: four of level 0 make one of level 1, and so on.
        var level = 0
        while existing.filter({ $0.level == level }).count + 1 >= SQLiteUsageStore.fanIn { level += 1 }
        var merging = existing.filter { $0.level < level }
        if bound == .max {  // a sum might overflow: merge everything, which checks exactly
            merging = existing
            level = max(level, existing.map(\.level).max() ?? 0)
        }
        var block = fragment
        if !merging.isEmpty {
            var parts = [fragment]
            let get = try writer.prepare("SELECT cells FROM blocks WHERE id = ?")
            let del = try writer.prepare("DELETE FROM blocks WHERE id = ?")
            for m in merging {
                get.reset()
                get.bind(1, m.id)
                guard try get.step() else { throw StoreError(.unavailable, "a cell block vanished") }
                parts.append(try CellBlock(decoding: get.blob(0)))
                del.reset()
                del.bind(1, m.id)
                try del.run()
            }
            get.reset()
            block = try CellBlock.merged(parts)
        }
        let ins = try writer.prepare("INSERT INTO blocks(account, product, tier, bucket, level, magnitude, cells) VALUES(?, ?, ?, ?, ?, ?, ?)")
        ins.bind(1, account)
        ins.bind(2, product)
        ins.bind(3, tier.seconds)
        ins.bind(4, bucket)
        ins.bind(5, Int64(level))
        ins.bind(6, block.magnitude)
        ins.bind(7, blob: block.encoded())
        try ins.run()
    }

    private func accountID(_ name: String, newAccounts: inout [ExactKey]) throws -> Int64 {
        if let id = accountIDs[ExactKey(name)] { return id }
        let ins = try writer.prepare("INSERT INTO accounts(name) VALUES(?) ON CONFLICT(name) DO NOTHING")
        ins.bind(1, name)
        try ins.run()
        let sel = try writer.prepare("SELECT id FROM accounts WHERE name = ?")
        sel.bind(1, name)
        guard try sel.step() else { throw StoreError(.unavailable, "account row missing") }
        let id = sel.int(0)
        sel.reset()
        accountIDs[ExactKey(name)] = id
        newAccounts.append(ExactKey(name))
        return id
    }

    // MARK: Reading

    public func aggregate(_ q: StoreQuery) async throws -> [StoreRow] {
        let layout = try self.layout(q.product)
        let (sql, args) = SQLiteQueryBuilder.aggregate(q)
        return try await onReader { conn in
            let stmt = try conn.prepare(sql)
            stmt.bind(args)
            var fold = CellFold(query: q, layout: layout)
            while try stmt.step() {
                try fold.add(stmt.blob(2), account: stmt.text(0), bucket: stmt.int(1))
            }
            return fold.rows()
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
        let (sql, args) = SQLiteQueryBuilder.aggregate(q)
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
                        throw StoreError(.unavailable, "the store could not answer")
                    }
                })
            }
        }
    }
}

extension Connection: @unchecked Sendable {}
