import Foundation
import Logging
import TallyCore
import TallyStore

/// A batch waiting for the writer, with the caller to answer.
struct PendingCommit: Sendable {
    var batch: IngestBatch
    var window: Int64
    var continuation: CheckedContinuation<IngestReceipt, any Error>
}

/// A write: the batches of one group commit, split into one portion per shard it touches
/// (the home shard's always, for the commit marker), with the portions known to have landed.
struct Write: Sendable {
    let id: Int64
    var portions: [Portion]
    var landed: Set<Int> = []
}

/// The one writer of a store: takes waiting batches in groups and commits each group as one
/// write, so ClickHouse sees a few large INSERTs instead of one per request.
///
/// Per group: read the stored receipts of its idempotency keys, the committed sightings of its
/// event ids and the stored sums of the cells it touches (three reads, in parallel); decide
/// each batch in order in memory (replay, duplicates, exact overflow check per cell and tier);
/// then insert every shard's portion, the home shard's last. Being the only writer is what
/// makes read-then-insert safe, so a database must have one Tally writing to it.
actor CommitWriter {
    let session: ClickHouseSession
    let layouts: Layouts
    let placement: Placement
    private var lastWrite: Int64 = 0
    /// Portions known to have landed (their event ids count), bounded by dropping it when large.
    private var confirmed: Set<PortionID> = []
    /// A write that failed part way; it is settled before anything else is written.
    private var doubt: Write?
    private var prunedAt: Int64?

    init(session: ClickHouseSession, placement: Placement, layouts: Layouts) {
        self.session = session
        self.placement = placement
        self.layouts = layouts
    }

    /// Write ids grow and never repeat: the later of the clock in nanoseconds and the last id + 1.
    func start(after write: Int64) { lastWrite = max(lastWrite, write) }

    private func nextWriteID() -> Int64 {
        lastWrite = max(lastWrite + 1, Int64(Date().timeIntervalSince1970 * 1_000_000) * 1_000)
        return lastWrite
    }

    /// Commits a group and answers each of its callers.
    func write(_ group: [PendingCommit]) async {
        var results: [Result<IngestReceipt, any Error>]
        do {
            try await settleDoubt()
            results = try await commit(group)
        } catch {
            let e = publicError(error)
            results = group.map { _ in .failure(e) }
        }
        for (p, r) in zip(group, results) { p.continuation.resume(with: r) }
    }

    /// Settles a write left in doubt when the store closes (best effort).
    func finish() async {
        do {
            try await settleDoubt()
        } catch {
            session.logger.warning("clickhouse write left in doubt at close", metadata: ["clickhouse.error": "\(error)"])
        }
    }

    private func publicError(_ error: any Error) -> any Error {
        if let e = error as? StoreError { return e }
        if let f = error as? ClickHouseFailure { return session.storeError(f, "write") }
        session.logger.error("clickhouse write failed", metadata: ["clickhouse.error": "\(error)"])
        return StoreError(.unavailable, "the store could not commit the batch")
    }

    // MARK: One group

    private func commit(_ group: [PendingCommit]) async throws -> [Result<IngestReceipt, any Error>] {
        let layouts = self.layouts.current
        var series = SeriesTable()
        var keys = Set<ExactString>(), eventKeys = Set<ExactString>(), touched = Set<Cell>()
        var after = Int64.max
        var prepared: [Result<[PlacedEvent], StoreError>] = []
        for p in group {
            if let k = p.batch.idempotencyKey { keys.insert(ExactString(k)) }
            after = min(after, p.batch.receivedAt - p.window)
            for e in p.batch.events { if let k = e.dedupKey { eventKeys.insert(ExactString(k)) } }
            let placed = PlacedEvent.place(p.batch.events, layouts, &series)
            if case .success(let events) = placed { for e in events { touched.insert(e.cell) } }
            prepared.append(placed)
        }
        for c in Array(touched) {
            touched.insert(c.at(.hour))
            touched.insert(c.at(.day))
        }
        async let storedReceipts = readReceipts(keys)
        async let storedSeen = readSeen(eventKeys, after: after)
        async let storedSums = readSums(touched, series)
        var receipts = try await storedReceipts
        var seen = try await storedSeen
        var sums = try await storedSums

        var results: [Result<IngestReceipt, any Error>] = []
        var written: [Int] = []
        var plan = WritePlan()
        for (index, p) in group.enumerated() {
            let key = p.batch.idempotencyKey.map(ExactString.init)
            if let key, var r = receipts[key] {
                r.replayed = true
                results.append(.success(r))
                // A replay of a batch of this very group stands or falls with its write.
                if plan.has(key) { written.append(index) }
                continue
            }
            do {
                let b = try BatchFold(p.batch, prepared[index].get(), window: p.window, seen: seen)
                var updated: [(Cell, [Int64])] = []
                for (id, delta) in b.cells {
                    var sum = sums[id] ?? Array(repeating: 0, count: Columns.metrics)
                    for i in sum.indices {
                        let (v, o) = sum[i].addingReportingOverflow(delta.metrics[i])
                        if o { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
                        sum[i] = v
                    }
                    updated.append((id, sum))
                }
                for (id, sum) in updated { sums[id] = sum }
                plan.add(b, batch: p.batch, key: key)
                for (k, _) in b.seen { seen[k] = p.batch.receivedAt }
                if let key { receipts[key] = b.receipt }
                results.append(.success(b.receipt))
                written.append(index)
            } catch {
                results.append(.failure(error))
            }
        }
        guard !written.isEmpty else { return results }
        if plan.signed { self.layouts.signed = true }
        let write = plan.encode(id: nextWriteID(), placement: placement, series: series)
        let batches = written.map { group[$0].batch.idempotencyKey ?? "-" }
        do {
            try await insert(write)
        } catch {
            session.logger.debug("clickhouse write failed", metadata: ["clickhouse.write": "\(write.id)", "clickhouse.batches": "\(batches)"])
            let e = publicError(error)
            for i in written { results[i] = .failure(e) }
            return results
        }
        session.logger.debug("clickhouse write committed", metadata: ["clickhouse.write": "\(write.id)", "clickhouse.batches": "\(batches)"])
        await prune(receivedAt: plan.lastReceivedAt, window: group.map(\.window).max() ?? 0)
        return results
    }

    /// Inserts a write's portions that have not landed: the other shards' in parallel, then
    /// the home shard's, whose commit marker and receipts make the write count as committed.
    /// On failure the write is kept in `doubt`.
    private func insert(_ write: Write) async throws {
        var w = write
        do {
            let session = self.session, id = w.id
            let others = w.portions.filter { $0.shard != 0 && !w.landed.contains($0.shard) }
            try await withThrowingTaskGroup(of: Int.self) { group in
                for p in others {
                    group.addTask {
                        try await session.insert(p, write: id)
                        return p.shard
                    }
                }
                for try await shard in group { w.landed.insert(shard) }
            }
            if !w.landed.contains(0) {
                try await session.insert(w.portions[0], write: w.id)
                w.landed.insert(0)
            }
        } catch {
            doubt = w
            throw error
        }
        doubt = nil
        if confirmed.count > 100_000 { confirmed.removeAll() }
        for s in w.landed { confirmed.insert(PortionID(write: w.id, shard: s)) }
    }

    /// Settles the write left in doubt by a failure: finds which portions landed; none means it
    /// simply failed; otherwise the missing portions are inserted, since a landed portion cannot
    /// be taken back. Throws (and keeps the doubt) while ClickHouse does not answer.
    private func settleDoubt() async throws {
        guard var d = doubt else { return }
        for p in d.portions where !d.landed.contains(p.shard) {
            if try await session.landed(p.shard, write: d.id) { d.landed.insert(p.shard) }
        }
        doubt = d
        if d.landed.isEmpty {
            session.logger.notice("clickhouse write did not land", metadata: ["clickhouse.write": "\(d.id)"])
            doubt = nil
            return
        }
        try await insert(d)
        session.logger.notice("clickhouse write settled", metadata: ["clickhouse.write": "\(d.id)"])
    }

    /// Drops whole days of `seen` that every dedup window has left (at most once an hour).
    private func prune(receivedAt: Int64, window: Int64) async {
        let before = floorDiv(receivedAt - window, 86_400)
        if let last = prunedAt, abs(receivedAt - last) < 3_600 { return }
        prunedAt = receivedAt
        for node in session.shards {
            let sql = """
                SELECT DISTINCT partition FROM system.parts WHERE database = \(literal(session.tables.database)) \
                AND table = \(literal(session.tables.seenLocalName)) AND active FORMAT RowBinary
                """
            do {
                let parts = try await session.rows(sql, on: node) { r throws(RowBinaryError) in try r.string() }
                for day in parts.compactMap({ Int64($0) }) where day < before {
                    _ = try await session.run("ALTER TABLE \(session.tables.seenLocal) DROP PARTITION \(day)", on: node)
                }
            } catch {
                session.logger.warning("clickhouse seen pruning failed", metadata: ["clickhouse.node": "\(node)", "clickhouse.error": "\(error)"])
            }
        }
    }

    // MARK: Reads before a write

    /// The stored receipt of each key (the first write's, should there be several).
    private nonisolated func readReceipts(_ keys: Set<ExactString>) async throws -> [ExactString: IngestReceipt] {
        guard !keys.isEmpty else { return [:] }
        let (sql, ext) = ClickHouseQueries.receipts(keys.map(\.value), tables: session.tables)
        let rows = try await session.rows(sql, external: ext) { r throws(RowBinaryError) in
            (ExactString(try r.string()), try r.int64(), try r.int64(), try r.int64())
        }
        var out: [ExactString: IngestReceipt] = [:]
        for (key, _, accepted, duplicates) in rows where out[key] == nil {
            out[key] = IngestReceipt(accepted: Int(accepted), duplicates: Int(duplicates))
        }
        return out
    }

    /// The latest committed sighting (receivedAt) after `after` of each event key: sightings
    /// count only when their portion's marker exists.
    private func readSeen(_ keys: Set<ExactString>, after: Int64) async throws -> [ExactString: Int64] {
        guard !keys.isEmpty else { return [:] }
        let (sql, ext) = ClickHouseQueries.seen(keys.map(\.value), after: after, tables: session.tables)
        let rows = try await session.rows(sql, external: ext) { r throws(RowBinaryError) in
            (ExactString(try r.string()), PortionID(write: try r.int64(), shard: Int(try r.uint16())), try r.int64())
        }
        let unknown = Set(rows.map(\.1)).subtracting(confirmed)
        if !unknown.isEmpty {
            let (sql, ext) = ClickHouseQueries.portions(Set(unknown.map(\.write)), table: session.tables.usage)
            let landed = try await session.rows(sql, external: ext) { r throws(RowBinaryError) in (try r.int64(), try r.string()) }
            for (write, shard) in landed {
                if let s = Int(shard) { confirmed.insert(PortionID(write: write, shard: s)) }
            }
        }
        var out: [ExactString: Int64] = [:]
        for (key, portion, at) in rows where confirmed.contains(portion) {
            out[key] = max(out[key] ?? .min, at)
        }
        return out
    }

    /// The stored sums of the given cells (absent cells are zero).
    private nonisolated func readSums(_ cells: Set<Cell>, _ series: SeriesTable) async throws -> [Cell: [Int64]] {
        guard !cells.isEmpty else { return [:] }
        let (sql, ext) = ClickHouseQueries.cellSums(cells, series: series, tables: session.tables)
        let rows = try await session.rows(sql, external: ext) { r throws(RowBinaryError) -> (Cell, [Int64])? in
            guard let kind = RowKind(rawValue: try r.uint8()) else { throw RowBinaryError() }
            let account = ExactString(try r.string()), product = ExactString(try r.string()), bucket = try r.int64()
            var columns: [ExactString] = []
            for _ in 0..<Columns.dimensions { columns.append(ExactString(try r.string())) }
            var sums: [Int64] = []
            for _ in 0..<Columns.metrics { sums.append(try r.int64()) }
            guard let id = series.find(SeriesKey(account: account, product: product, columns: columns)) else { return nil }
            return (Cell(series: id, kind: kind, bucket: bucket), sums)
        }
        return Dictionary(rows.compactMap { $0 }, uniquingKeysWith: { a, _ in a })
    }
}

/// A write's portion on one shard.
struct PortionID: Hashable, Sendable {
    var write: Int64
    var shard: Int
}

/// Where an account's rows go: the shard of its top-level account.
struct Placement: Sendable {
    let shardCount: Int
    let rootAccount: @Sendable (String) -> String

    /// The sharding key (also the Distributed table's) and the shard index of an account.
    func place(_ account: String) -> (key: UInt64, shard: Int) {
        let key = stableHash(rootAccount(account))
        return (key, Int(key % UInt64(shardCount)))
    }
}

/// An event's quarter-hour cell and its metric values placed in their columns.
struct PlacedEvent {
    var cell: Cell
    var metrics: [Int64]

    /// The events of a batch placed, their series interned in `series`; fails when an event
    /// names a product the store was not prepared for.
    static func place(_ events: [UsageEvent], _ layouts: [String: ColumnLayout], _ series: inout SeriesTable) -> Result<[PlacedEvent], StoreError> {
        var out: [PlacedEvent] = []
        out.reserveCapacity(events.count)
        var product = "", layout: ColumnLayout?
        for e in events {
            if layout == nil || e.product != product {
                product = e.product
                layout = layouts[product]
            }
            guard let layout else { return .failure(StoreError(.invalid, "unknown product \(product)")) }
            var columns = [ExactString](repeating: ExactString(""), count: Columns.dimensions)
            for (i, v) in e.dimensions.enumerated() where i < layout.dimensionColumns.count { columns[layout.dimensionColumns[i]] = ExactString(v) }
            let id = series.id(SeriesKey(account: ExactString(e.account), product: ExactString(e.product), columns: columns))
            var metrics = [Int64](repeating: 0, count: Columns.metrics)
            for (i, v) in e.metrics.enumerated() where i < layout.metricColumns.count { metrics[layout.metricColumns[i]] = v }
            out.append(PlacedEvent(cell: Cell(series: id, kind: .quarterHour, bucket: floorDiv(e.time, 900) * 900), metrics: metrics))
        }
        return .success(out)
    }
}

/// One batch decided in memory: its cells at every tier (exact sums), the event keys it counts
/// for the first time, and its receipt. Throws when a cell overflows within the batch.
struct BatchFold {
    struct Delta {
        var events: UInt64
        var metrics: [Int64]
    }

    var cells: [Cell: Delta] = [:]
    var seen: [(ExactString, String)] = []
    var receipt: IngestReceipt

    init(_ batch: IngestBatch, _ placed: [PlacedEvent], window: Int64, seen stored: [ExactString: Int64]) throws {
        let cutoff = batch.receivedAt - window
        var quarters: [Cell: Delta] = [:]
        var local = Set<ExactString>()
        var accepted = 0, duplicates = 0
        for (e, p) in zip(batch.events, placed) {
            if let k = e.dedupKey {
                let key = ExactString(k)
                if local.contains(key) || (stored[key].map { $0 > cutoff } ?? false) {
                    duplicates += 1
                    continue
                }
                local.insert(key)
                seen.append((key, e.account))
            }
            accepted += 1
            try Self.add(&quarters, p.cell, Delta(events: 1, metrics: p.metrics))
        }
        cells = quarters
        for (cell, delta) in quarters {
            try Self.add(&cells, cell.at(.hour), delta)
            try Self.add(&cells, cell.at(.day), delta)
        }
        receipt = IngestReceipt(accepted: accepted, duplicates: duplicates)
    }

    private static func add(_ cells: inout [Cell: Delta], _ cell: Cell, _ delta: Delta) throws(StoreError) {
        guard var d = cells[cell] else {
            cells[cell] = delta
            return
        }
        d.events += delta.events
        for i in d.metrics.indices {
            let (v, o) = d.metrics[i].addingReportingOverflow(delta.metrics[i])
            if o { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
            d.metrics[i] = v
        }
        cells[cell] = d
    }
}

/// The rows of the batches of one group, gathered before they are encoded per shard.
struct WritePlan {
    private var cells: [Cell: BatchFold.Delta] = [:]
    private var seen: [(key: ExactString, account: String, at: Int64)] = []
    private var receipts: [(ExactString, IngestReceipt)] = []
    private var checkpoints: [ExactString: String] = [:]
    private(set) var lastReceivedAt: Int64 = 0
    /// Whether a batch holds a negative metric value (see `ClickHouseQueries.aggregate`).
    private(set) var signed = false

    /// Whether a batch of this plan carries idempotency key `key`.
    func has(_ key: ExactString) -> Bool { receipts.contains { $0.0 == key } }

    mutating func add(_ b: BatchFold, batch: IngestBatch, key: ExactString?) {
        if !signed { signed = b.cells.values.contains { $0.metrics.contains { $0 < 0 } } }
        for (id, d) in b.cells {
            // Wrapping is right here: the per-cell running sums were checked exactly, so the
            // cell's stored rows add up to an in-range value whatever each row holds.
            if var c = cells[id] {
                c.events &+= d.events
                for i in c.metrics.indices { c.metrics[i] &+= d.metrics[i] }
                cells[id] = c
            } else {
                cells[id] = d
            }
        }
        seen += b.seen.map { ($0.0, $0.1, batch.receivedAt) }
        if let key { receipts.append((key, b.receipt)) }
        if let c = batch.checkpoint { checkpoints[ExactString(c.reader)] = c.position }
        lastReceivedAt = batch.receivedAt
    }

    /// Encodes the rows per shard: cells and event keys on their top-level account's shard, a
    /// portion marker on every shard written, receipts, checkpoints and the commit marker on
    /// the home shard. Everything carries one partition (the month of the last batch), so each
    /// shard's `usage` INSERT is one part.
    func encode(id: Int64, placement: Placement, series: SeriesTable) -> Write {
        let month = monthPartition(lastReceivedAt)
        var portions: [Int: Portion] = [0: Portion(shard: 0)]
        var places: [String: (key: UInt64, shard: Int)] = [:]
        func place(_ account: String) -> (key: UInt64, shard: Int) {
            if let p = places[account] { return p }
            let p = placement.place(account)
            places[account] = p
            return p
        }
        for (cell, d) in cells {
            let s = series.keys[Int(cell.series)]
            let (key, shard) = place(s.account.value)
            portions[shard, default: Portion(shard: shard)].addUsage(
                month: month, kind: cell.kind, account: s.account.value, product: s.product.value, bucket: cell.bucket,
                columns: s.columns, shardKey: key, n: d.events, metrics: d.metrics)
        }
        for s in seen {
            let (key, shard) = place(s.account)
            portions[shard, default: Portion(shard: shard)].addSeen(key: s.key.value, at: s.at, write: id, shardKey: key)
        }
        for (key, r) in receipts {
            portions[0]!.addUsage(month: month, kind: .receipt, account: key.value, bucket: id, shardKey: 0, n: 1, metrics: [Int64(r.accepted), Int64(r.duplicates)])
        }
        for (reader, position) in checkpoints {
            portions[0]!.addUsage(month: month, kind: .checkpoint, account: reader.value, bucket: id, d0: position, shardKey: 0, n: 1)
        }
        if signed { portions[0]!.addUsage(month: month, kind: .signed, account: "", bucket: id, shardKey: 0, n: 1) }
        portions[0]!.addUsage(month: month, kind: .commit, account: "", bucket: id, shardKey: 0, n: 1, metrics: [lastReceivedAt, Int64(portions.count)])
        for s in portions.keys {
            portions[s]!.addUsage(month: month, kind: .portion, account: "", bucket: id, d0: String(s), shardKey: UInt64(s), n: 1)
        }
        return Write(id: id, portions: portions.keys.sorted().map { portions[$0]! })
    }
}

