import Foundation
import Logging
import TallyCore
import TallyStore

/// The nodes of one store and how to talk to them: statements with retries and backoff,
/// answers decoded, ClickHouse's own error text logged and never returned.
struct ClickHouseSession: Sendable {
    let http: ClickHouseHTTP
    let tables: ClickHouseTables
    /// Where reads go: the single node, or the node holding the Distributed tables.
    let readNode: String
    /// Every shard's base URL in the cluster's order; a single node is its own only shard.
    /// Shard 0 is the home shard: receipts, checkpoints, commit markers and the layout live there.
    let shards: [String]
    /// Waits between attempts; after the last one a call gives up.
    let retryDelays: [Duration]
    let logger: Logger

    var home: String { shards[0] }

    /// ClickHouse error codes worth another attempt: busy, timed out, a shard unreachable, or
    /// an earlier attempt of the same query still running.
    static let retryableCodes: Set<Int> = [159, 202, 209, 210, 216, 241, 252, 279, 394]

    static func isRetryable(_ failure: ClickHouseFailure) -> Bool {
        switch failure {
        case .transport: true
        case .server(_, let code, _): code.map { retryableCodes.contains($0) } ?? true
        }
    }

    /// Runs a statement that is safe to repeat (a read, or DDL with IF NOT EXISTS), retrying
    /// with backoff while ClickHouse does not answer or is busy.
    func run(_ sql: String, on node: String, external: [ExternalTable] = []) async throws(ClickHouseFailure) -> [UInt8] {
        var attempt = 0
        while true {
            do {
                return try await http.execute(node: node, sql, external: external)
            } catch {
                guard Self.isRetryable(error), attempt < retryDelays.count else { throw error }
                logger.debug("clickhouse retry", metadata: ["clickhouse.node": "\(node)", "clickhouse.error": "\(error)"])
                try? await Task.sleep(for: retryDelays[attempt])
                attempt += 1
            }
        }
    }

    /// Runs a read and decodes each row of its `RowBinary` answer with `row`.
    func rows<T>(_ sql: String, on node: String? = nil, external: [ExternalTable] = [], _ row: (inout RowBinaryReader) throws(RowBinaryError) -> T) async throws(StoreError) -> [T] {
        let bytes: [UInt8]
        do {
            bytes = try await run(sql, on: node ?? readNode, external: external)
        } catch {
            throw storeError(error, "read")
        }
        var reader = RowBinaryReader(bytes)
        var out: [T] = []
        do {
            while !reader.atEnd { out.append(try row(&reader)) }
        } catch {
            logger.error("clickhouse answer malformed", metadata: ["clickhouse.sql": "\(sql.prefix(200))"])
            throw StoreError(.unavailable, "the store sent an unexpected answer")
        }
        return out
    }

    /// Logs a ClickHouse failure and returns what a client may see.
    func storeError(_ failure: ClickHouseFailure, _ what: String) -> StoreError {
        logger.error("clickhouse \(what) failed", metadata: ["clickhouse.error": "\(failure)"])
        return StoreError(.unavailable, "the store is unavailable; retry later")
    }

    // MARK: Writing one portion

    /// Inserts one shard's portion of a write: its event ids into `seen`, then its rows (cells,
    /// marker, and on the home shard receipts and checkpoints) into `usage` in one INSERT.
    ///
    /// Each INSERT carries a query id derived from the write, and before any repeat the portion's
    /// marker is looked up (after waiting out a still running first attempt), so a portion is
    /// never written twice even when an answer was lost.
    func insert(_ portion: Portion, write: Int64) async throws(ClickHouseFailure) {
        let node = shards[portion.shard]
        var attempt = 0
        while true {
            do {
                if attempt > 0, try await landed(portion.shard, write: write) { return }
                if portion.seenRows > 0 {
                    _ = try await http.execute(
                        node: node, "INSERT INTO \(tables.seenLocal) FORMAT RowBinary", settings: Self.blockSettings(portion.seenRows, portion.seen.bytes.count),
                        data: portion.seen.bytes, queryID: Portion.queryID(write, portion.shard, "seen"))
                }
                _ = try await http.execute(
                    node: node, "INSERT INTO \(tables.usageLocal) FORMAT RowBinary", settings: Self.blockSettings(portion.usageRows, portion.usage.bytes.count),
                    data: portion.usage.bytes, queryID: Portion.queryID(write, portion.shard, "usage"))
                return
            } catch {
                guard Self.isRetryable(error), attempt < retryDelays.count else { throw error }
                logger.warning("clickhouse insert retry", metadata: ["clickhouse.node": "\(node)", "clickhouse.write": "\(write)", "clickhouse.error": "\(error)"])
                try? await Task.sleep(for: retryDelays[attempt])
                attempt += 1
            }
        }
    }

    /// Settings keeping a whole insert in one block, hence one part: all of it lands or none.
    static func blockSettings(_ rows: Int, _ bytes: Int) -> [(String, String)] {
        let r = String(max(rows + 1, 1_048_576)), b = String(max(bytes + 1, 268_435_456))
        return [("max_insert_block_size", r), ("min_insert_block_size_rows", r), ("min_insert_block_size_bytes", b)]
    }

    /// Whether a shard holds the marker of a write (waiting first until no attempt to insert it is still running).
    func landed(_ shard: Int, write: Int64) async throws(ClickHouseFailure) -> Bool {
        let node = shards[shard]
        let ids = ["seen", "usage"].map { literal(Portion.queryID(write, shard, $0)) }.joined(separator: ", ")
        for _ in 0..<600 {
            let running = try await count("SELECT count() FROM system.processes WHERE query_id IN (\(ids)) FORMAT RowBinary", on: node)
            if running == 0 { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let sql = """
            SELECT count() FROM \(tables.usageLocal) WHERE kind = \(RowKind.portion.rawValue) AND account = '' AND product = '' \
            AND bucket = \(write) AND d0 = '\(shard)' FORMAT RowBinary
            """
        return try await count(sql, on: node) > 0
    }

    private func count(_ sql: String, on node: String) async throws(ClickHouseFailure) -> UInt64 {
        var reader = RowBinaryReader(try await run(sql, on: node))
        do {
            return try reader.uint64()
        } catch {
            throw .transport("malformed count")
        }
    }
}

/// One shard's share of a write, encoded and ready to send (kept until it is known to have landed).
struct Portion: Sendable {
    let shard: Int
    var seen = RowBinaryWriter()
    var seenRows = 0
    var usage = RowBinaryWriter()
    var usageRows = 0

    init(shard: Int) { self.shard = shard }

    static func queryID(_ write: Int64, _ shard: Int, _ table: String) -> String { "tally-\(write)-\(shard)-\(table)" }

    mutating func addUsage(
        month: UInt32, kind: RowKind, account: String, product: String = "", bucket: Int64,
        columns: [ExactString]? = nil, d0: String = "", shardKey: UInt64, n: UInt64, metrics: [Int64] = []
    ) {
        usage.uint32(month)
        usage.uint8(kind.rawValue)
        usage.string(account)
        usage.string(product)
        usage.int64(bucket)
        for i in 0..<Columns.dimensions { usage.string(columns?[i].value ?? (i == 0 ? d0 : "")) }
        usage.uint64(shardKey)
        usage.uint64(n)
        for i in 0..<Columns.metrics { usage.int64(i < metrics.count ? metrics[i] : 0) }
        usageRows += 1
    }

    mutating func addSeen(key: String, at: Int64, write: Int64, shardKey: UInt64) {
        seen.uint32(UInt32(clamping: max(0, floorDiv(at, 86_400))))
        seen.string(key)
        seen.int64(at)
        seen.int64(write)
        seen.uint16(UInt16(shard))
        seen.uint64(shardKey)
        seenRows += 1
    }
}

/// FNV-1a over the UTF-8 bytes: the sharding key of a top-level account, stable across
/// processes and releases (Swift's `Hasher` is seeded per process).
func stableHash(_ s: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in s.utf8 {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3
    }
    return h
}

/// `yyyymm` of an instant in UTC: the partition of everything one write inserts.
func monthPartition(_ time: Int64) -> UInt32 {
    let d = CivilDate(dayNumber: floorDiv(time, 86_400))
    return UInt32(clamping: max(0, d.year * 100 + d.month))
}
