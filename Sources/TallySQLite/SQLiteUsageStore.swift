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
///
/// A commit encodes its fragments on its own task before it queues (`PreparedBatch`), so the
/// one writer does only what must be serial: admit dedup keys, then store the fragments (or, when
/// some event was a duplicate, fragments rebuilt from the admitted events).
public final class SQLiteUsageStore: UsageStore, @unchecked Sendable {
    public let path: String
    let logger: Logger
    private let writerQueue = DispatchQueue(label: "tally.sqlite.writer")
    private let writer: Connection  // only touched on writerQueue
    private let readers = Mutex<[Connection]>([])
    /// The layout of each product, and a number that changes with every `prepare(products:)`.
    private let layouts = Mutex<(map: [String: Layout], generation: Int)>(([:], 0))
    private var accountIDs: [ExactKey: Int64] = [:]  // writerQueue only
    private var dedup = DedupIndex()  // writerQueue only
    private let statements: BlockStatements  // writerQueue only
    private let checkpointer: Checkpointer
    /// The fragments of the block being written (writerQueue only; kept to reuse its storage).
    private var existing: [(id: Int64, level: Int, magnitude: Int64)] = []
    private var tops = BlockTops()  // writerQueue only

    /// The latest bucket holding a block of each account, product and tier, as the writer last
    /// knew it: a fragment for a later bucket starts its block, so the writer stores it without
    /// looking for fragments to merge (with new usage arriving in time order, that is most of
    /// them; the lookup was about a quarter of the writer's time). Each key is read once from
    /// the index. Another connection's commit may have added blocks, so the marks are forgotten
    /// whenever `PRAGMA data_version` says one happened; a rolled-back write leaves them too high,
    /// which only costs lookups.
    struct BlockTops {
        struct Key: Hashable {
            var account: Int64
            var product: Int32
            var tier: Int64
        }
        var top: [Key: Int64] = [:]
        var products: [String: Int32] = [:]
        var dataVersion: Int64 = -1
    }

    /// The writer's statements on `blocks`, prepared once.
    struct BlockStatements {
        let existing, cells, delete, insert, top, dataVersion: Statement

        init(_ c: Connection) throws {
            top = try c.prepare("SELECT max(bucket) FROM blocks WHERE account = ? AND product = ? AND tier = ?")
            dataVersion = try c.prepare("PRAGMA data_version")
            existing = try c.prepare("SELECT id, level, magnitude FROM blocks WHERE account = ? AND product = ? AND tier = ? AND bucket = ?")
            cells = try c.prepare("SELECT cells FROM blocks WHERE id = ?")
            delete = try c.prepare("DELETE FROM blocks WHERE id = ?")
            insert = try c.prepare("INSERT INTO blocks(account, product, tier, bucket, level, magnitude, cells) VALUES(?, ?, ?, ?, ?, ?, ?)")
        }
    }

    struct Pending {
        var batch: IngestBatch
        var window: Int64
        /// The batch's fragments, built before it queued (nil when building them failed).
        var prepared: PreparedBatch?
        /// The events with a dedup key, in the order to admit them (`DedupIndex.tableOrder`).
        var keyOrder: [DedupIndex.Admission]
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
    /// acknowledged commit survive power loss, not only a process crash. A commit that leaves
    /// `checkpointPages` pages (16 KiB each in a store created by this version) or more in the WAL starts a checkpoint on another thread.
    public init(path: String, checkpointPages: Int = 1000, logger: Logger) throws {
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
        statements = try BlockStatements(writer)
        checkpointer = try Checkpointer(path: path, pages: Int32(clamping: max(1, checkpointPages)), logger: logger)
        checkpointer.attach(to: writer)
    }

    deinit {
        checkpointer.detach(from: writer)
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
        layouts.withLock { $0 = (result, $0.generation + 1) }
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
        guard let l = layouts.withLock({ $0.map[product] }) else { throw StoreError(.invalid, "unknown product \(product)") }
        return l
    }

    // MARK: Writing

    /// Builds the batch's fragments here, on the caller's task (many commits do this at once),
    /// and queues the batch for the writer.
    public func commit(_ batch: IngestBatch, dedupWindow: Int64) async throws -> IngestReceipt {
        let prepared = try? self.prepared(batch.columns, skipping: nil)
        let keyOrder = DedupIndex.tableOrder(batch.columns.keys)
        return try await withCheckedThrowingContinuation { cont in
            let start = pending.withLock { p -> Bool in
                p.queue.append(Pending(batch: batch, window: dedupWindow, prepared: prepared, keyOrder: keyOrder, continuation: cont))
                if p.draining { return false }
                p.draining = true
                return true
            }
            if start { writerQueue.async { self.drain() } }
        }
    }

    /// Sizes the dedup index for `events` more keys at once (up to `DedupIndex.largestHint`), on
    /// the writer's queue before the batches it precedes, so the writer does not rebuild it as it fills.
    public func expect(events: Int) {
        let n = min(max(events, 0), DedupIndex.largestHint)
        writerQueue.async { [self] in dedup.reserve(n) }
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
                try forgetTopsIfAnotherWriterCommitted()
                var runs: [Int64: [DedupKey]] = [:]
                for (i, p) in group.enumerated() {
                    try writer.execute("SAVEPOINT b\(i)")
                    var newAccounts: [ExactKey] = []
                    var newKeys: [DedupKey] = []
                    let mark = dedup.mark
                    do {
                        let r = try write(p, newKeys: &newKeys, newAccounts: &newAccounts)
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

    /// Empties `tops` when another connection has committed since this one last looked.
    private func forgetTopsIfAnotherWriterCommitted() throws {
        let st = statements.dataVersion
        st.reset()
        guard try st.step() else { throw StoreError(.unavailable, "PRAGMA data_version gave nothing") }
        let version = st.int(0)
        st.reset()
        if version != tops.dataVersion {
            tops.top.removeAll(keepingCapacity: true)
            tops.dataVersion = version
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

    /// The fragments of `columns` without the events `skip` marks, in the layouts of now.
    private func prepared(_ columns: EventColumns, skipping skip: [Bool]?) throws -> PreparedBatch {
        let (map, generation) = layouts.withLock { ($0.map, $0.generation) }
        return try PreparedBatch(columns, skipping: skip, layouts: map, generation: generation)
    }

    /// Writes one batch (inside its savepoint): admits its dedup keys, then stores the fragments
    /// built before it queued, or, when some event is a duplicate (or building failed), fragments
    /// built here from the admitted events only.
    private func write(_ p: Pending, newKeys: inout [DedupKey], newAccounts: inout [ExactKey]) throws -> IngestReceipt {
        let batch = p.batch
        if let key = batch.idempotencyKey {
            let sel = try writer.prepare("SELECT accepted, duplicates FROM receipts WHERE key = ?")
            sel.bind(1, key)
            if try sel.step() {
                return IngestReceipt(accepted: Int(sel.int(0)), duplicates: Int(sel.int(1)), replayed: true)
            }
        }
        let c = batch.columns
        let cutoff = batch.receivedAt - p.window
        var skip: [Bool]? = nil
        var duplicates = 0
        dedup.admit(p.keyOrder, at: batch.receivedAt, cutoff: cutoff, into: &newKeys) { event in
            if skip == nil { skip = [Bool](repeating: false, count: c.count) }
            skip![Int(event)] = true
            duplicates += 1
        }
        let generation = layouts.withLock { $0.generation }
        let fragments: PreparedBatch
        if skip == nil, let prepared = p.prepared, prepared.generation == generation {
            fragments = prepared
        } else {
            fragments = try self.prepared(c, skipping: skip)
        }
        try writeFragments(fragments, columns: c, newAccounts: &newAccounts)
        let receipt = IngestReceipt(accepted: c.count - duplicates, duplicates: duplicates)
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

    /// Stores each prepared fragment under its account (looked up once per account and batch).
    private func writeFragments(_ prepared: PreparedBatch, columns c: EventColumns, newAccounts: inout [ExactKey]) throws {
        var accounts: [Int32: Int64] = [:]
        var products: [Int32: Int32] = [:]
        for f in prepared.fragments {
            let account: Int64
            if let a = accounts[f.account] {
                account = a
            } else {
                account = try accountID(c.strings[Int(f.account)], newAccounts: &newAccounts)
                accounts[f.account] = account
            }
            let product = c.strings[Int(f.product)]
            let ordinal: Int32
            if let o = products[f.product] {
                ordinal = o
            } else {
                ordinal = tops.products[product] ?? Int32(tops.products.count)
                tops.products[product] = ordinal
                products[f.product] = ordinal
            }
            try writeFragment(prepared.bytes[f.bytes], magnitude: f.magnitude, account: account,
                              product: product, productOrdinal: ordinal, tier: f.tier, bucket: f.bucket)
        }
    }

    /// Adds a fragment (its encoding and magnitude) to a block, merging fragments as they pile
    /// up, and checks for overflow exactly (by merging) whenever the magnitude bounds cannot rule it out.
    private func writeFragment(_ fragment: UnsafeRawBufferPointer, magnitude: Int64, account: Int64, product: String, productOrdinal: Int32,
                               tier: Tier, bucket: Int64) throws {
        let st = statements
        let key = BlockTops.Key(account: account, product: productOrdinal, tier: tier.seconds)
        let top: Int64
        if let t = tops.top[key] {
            top = t
        } else {
            SQLiteUsageStore.bindBlock(st.top, account, product, tier)
            guard try st.top.step() else { throw StoreError(.unavailable, "max(bucket) gave nothing") }
            top = st.top.isNull(0) ? .min : st.top.int(0)
            st.top.reset()
        }
        tops.top[key] = max(top, bucket)
        existing.removeAll(keepingCapacity: true)
        if bucket <= top {
            SQLiteUsageStore.bindBlock(st.existing, account, product, tier)
            st.existing.bind(4, bucket)
            while try st.existing.step() { existing.append((st.existing.int(0), Int(st.existing.int(1)), st.existing.int(2))) }
        }
        var bound = magnitude
        for e in existing { bound = bound.addingReportingOverflow(e.magnitude).overflow ? .max : bound + e.magnitude }
        // Merge the levels that would hold `fanIn` fragments: four of level 0 make one of level 1, and so on.
        var level = 0
        while existing.count(where: { $0.level == level }) + 1 >= SQLiteUsageStore.fanIn { level += 1 }
        var merging = existing.filter { $0.level < level }
        if bound == .max {  // a sum might overflow: merge everything, which checks exactly
            merging = existing
            level = max(level, existing.map(\.level).max() ?? 0)
        }
        SQLiteUsageStore.bindBlock(st.insert, account, product, tier)
        st.insert.bind(4, bucket)
        st.insert.bind(5, Int64(level))
        var merged: [UInt8] = []
        if merging.isEmpty {
            st.insert.bind(6, magnitude)
            st.insert.bind(7, bytes: fragment)
        } else {
            var parts = [Array(fragment)]
            for m in merging {
                st.cells.reset()
                st.cells.bind(1, m.id)
                guard try st.cells.step() else { throw StoreError(.unavailable, "a cell block vanished") }
                parts.append(Array(st.cells.blob(0)))
                st.delete.reset()
                st.delete.bind(1, m.id)
                try st.delete.run()
            }
            st.cells.reset()
            let block = try CellBlock.merged(encoded: parts)
            merged = block.encoded()
            st.insert.bind(6, block.magnitude)
            st.insert.bind(7, blob: merged)
        }
        try st.insert.run()
    }

    /// Resets `s` and binds a block's account, product and tier to its first three parameters.
    private static func bindBlock(_ s: Statement, _ account: Int64, _ product: String, _ tier: Tier) {
        s.reset()
        s.bind(1, account)
        s.bind(2, product)
        s.bind(3, tier.seconds)
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
        try await onWriter { [self] in
            checkpointer.wait()
            try writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        readers.withLock { $0.removeAll() }
    }

    /// Waits for the checkpoint that the commits so far started, if any (tests).
    func waitForCheckpoint() {
        checkpointer.wait()
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
