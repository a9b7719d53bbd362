import Foundation
import TallyStore

/// Sums the cells of the blocks a query reads into its rows: filters and grouping apply per
/// cell, through the layout's columns; every sum is checked for overflow.
///
/// Strings stay bytes until the rows are made: each block string the query touches is numbered
/// by its exact bytes (`ByteStringTable`), rows are found by number (`RowTable`), and only the
/// strings of returned rows become `String`s, once each.
struct CellFold {
    let query: StoreQuery
    let layout: SQLiteUsageStore.Layout
    /// Group values and accounts as numbers; "" is number 0, then every filter value.
    private var strings = ByteStringTable()
    /// Per filter: its column, and per string number below `passes.count` whether it passes
    /// (strings numbered later are no filter value, so they fail).
    private let filters: [(column: Int, passes: [Bool])]
    /// The column of each group-by dimension.
    private let groupColumns: [Int]
    private var table: RowTable

    init(query: StoreQuery, layout: SQLiteUsageStore.Layout) {
        self.query = query
        self.layout = layout
        var strings = ByteStringTable()
        _ = strings.intern("")
        var numbered: [(column: Int, values: [Int32])] = []
        for (dim, values) in query.filters.sorted(by: { $0.key < $1.key }) {
            numbered.append((layout.dimensionColumns[dim], values.map { strings.intern($0) }))
        }
        let known = strings.count
        self.strings = strings
        filters = numbered.map { f in
            var passes = [Bool](repeating: false, count: known)
            for n in f.values { passes[Int(n)] = true }
            return (f.column, passes)
        }
        groupColumns = query.groupBy.map { layout.dimensionColumns[$0] }
        table = RowTable(width: 1 + query.groupBy.count, stride: layout.metricColumns.count)
    }

    /// Folds in one block (`CellBlock`'s encoding) of `account` at tier bucket `bucket`.
    mutating func add(_ blob: UnsafeRawBufferPointer, account: String, bucket: Int64) throws(StoreError) {
        let block = try CellBlockView(decoding: blob)
        let d = block.dimensionColumns, m = block.metricColumns
        // A column past the block's end holds "" (number 0).
        if filters.contains(where: { $0.column >= d && !$0.passes[0] }) { return }
        var local = [Int32](repeating: -1, count: block.strings.count)
        var key = [Int32](repeating: 0, count: table.width)
        key[0] = query.groupByAccount ? strings.intern(account) : -1
        let metrics = layout.metricColumns.enumerated().filter { $0.element < m }
        cells: for c in 0..<block.count {
            let dims = c * d
            for f in filters where f.column < d {
                let n = number(block.dims[dims + f.column], block, blob, &local)
                if Int(n) >= f.passes.count || !f.passes[Int(n)] { continue cells }
            }
            for (g, col) in groupColumns.enumerated() {
                key[g + 1] = col < d ? number(block.dims[dims + col], block, blob, &local) : 0
            }
            let row = key.withUnsafeBufferPointer { table.index(bucket: bucket, key: $0) } * table.stride
            for (i, col) in metrics {
                let (v, o) = table.sums[row + i].addingReportingOverflow(block.sums[c * m + col])
                if o { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
                table.sums[row + i] = v
            }
        }
    }

    /// The fold's number of the block's string `s`, remembered in `local` for the block.
    private mutating func number(_ s: Int32, _ block: CellBlockView, _ blob: UnsafeRawBufferPointer, _ local: inout [Int32]) -> Int32 {
        let s = Int(s)
        if local[s] < 0 { local[s] = strings.intern(UnsafeRawBufferPointer(rebasing: blob[block.strings[s]])) }
        return local[s]
    }

    /// The rows in store order: bucket, account, group values (each string by its bytes).
    func rows() -> [StoreRow] {
        // Rank the distinct strings once, then sort the rows by their ranks.
        var rank = [Int32](repeating: 0, count: strings.count)
        for (r, n) in (0..<Int32(strings.count)).sorted(by: { strings.precedes($0, $1) }).enumerated() { rank[Int(n)] = Int32(r) }
        let w = table.width
        let ranked = table.keys.map { $0 < 0 ? -1 : rank[Int($0)] }
        // The first ranks that fit packed into one integer (rank + 1, as -1 stands for no account).
        let bits = UInt64.bitWidth - UInt64(strings.count + 1).leadingZeroBitCount
        let packedCount = min(w, UInt64.bitWidth / bits)
        var order = (0..<table.count).map { i in
            let packed = (0..<packedCount).reduce(UInt64(0)) { $0 << bits | UInt64(ranked[i * w + $1] + 1) }
            return SortKey(bucket: table.buckets[i], packed: packed, row: Int32(i))
        }
        ranked.withUnsafeBufferPointer { r in
            order.sort { x, y in
                if x.bucket != y.bucket { return x.bucket < y.bucket }
                if x.packed != y.packed { return x.packed < y.packed }
                let (a, b) = (Int(x.row) * w, Int(y.row) * w)
                for j in packedCount..<w where r[a + j] != r[b + j] { return r[a + j] < r[b + j] }
                return false
            }
        }
        var made = [String?](repeating: nil, count: strings.count)
        func string(_ n: Int32) -> String {
            if let s = made[Int(n)] { return s }
            let s = strings.string(n)
            made[Int(n)] = s
            return s
        }
        let stride = table.stride
        return order.map { key in
            let i = Int(key.row)
            let k = table.keys[(i * w)..<((i + 1) * w)]
            return StoreRow(bucket: table.buckets[i], account: k.first! < 0 ? nil : string(k.first!),
                            groups: k.dropFirst().map(string), metrics: Array(table.sums[(i * stride)..<((i + 1) * stride)]))
        }
    }
}

/// A row's place in store order: its bucket, then its first group ranks packed, then the rest.
private struct SortKey {
    var bucket: Int64
    var packed: UInt64
    var row: Int32
}

/// Rows keyed by bucket and `width` numbers, with `stride` sums each, in flat arrays.
///
/// Indexed by open addressing (like the write path's `Cells`): a fold looks up a row per cell,
/// and a `Dictionary` keyed by a struct spends most of that hashing.
struct RowTable {
    let width: Int
    let stride: Int
    private(set) var buckets: [Int64] = []
    private(set) var keys: [Int32] = []
    var sums: [Int64] = []
    private var slots = HashSlots()

    init(width: Int, stride: Int) {
        self.width = width
        self.stride = stride
    }

    var count: Int { buckets.count }

    private static func hash(_ bucket: Int64, _ key: UnsafeBufferPointer<Int32>) -> UInt64 {
        var h = UInt64(bitPattern: bucket) &* QuickHash.seed
        for k in key { h = (h ^ UInt64(UInt32(bitPattern: k))) &* 0x9E37_79B9_7F4A_7C15 }
        return (h ^ (h >> 32)) &* QuickHash.seed
    }

    /// The number of the row of `bucket` and `key`, adding it (with zero sums) when new.
    mutating func index(bucket: Int64, key: UnsafeBufferPointer<Int32>) -> Int {
        let h = RowTable.hash(bucket, key)
        let w = width
        let (found, slot) = keys.withUnsafeBufferPointer { k in
            slots.find(h) { r in buckets[r] == bucket && (0..<w).allSatisfy { k[r * w + $0] == key[$0] } }
        }
        if let found { return found }
        buckets.append(bucket)
        keys.append(contentsOf: key)
        sums += repeatElement(0, count: stride)
        return slots.add(h, at: slot)
    }
}

/// An open-addressing index of entries numbered 0, 1, ... by their 64-bit hashes: linear
/// probing from the slot the hash's top bits pick, kept at most half full.
struct HashSlots {
    private var slots = [Int32](repeating: -1, count: 1 << 8)
    private var shift: UInt64 = 64 - 8
    private var hashes: [UInt64] = []

    var count: Int { hashes.count }

    /// The entry with hash `h` that `matches`, or nil and the free slot where it belongs.
    func find(_ h: UInt64, where matches: (Int) -> Bool) -> (entry: Int?, slot: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: h >> shift)
        while slots[slot] >= 0 {
            let e = Int(slots[slot])
            if hashes[e] == h && matches(e) { return (e, slot) }
            slot = (slot + 1) & mask
        }
        return (nil, slot)
    }

    /// Adds the next entry, with hash `h`, at the free `slot` `find` gave; returns its number.
    mutating func add(_ h: UInt64, at slot: Int) -> Int {
        hashes.append(h)
        slots[slot] = Int32(hashes.count - 1)
        if hashes.count * 2 > slots.count {
            slots = [Int32](repeating: -1, count: slots.count * 2)
            shift -= 1
            let mask = slots.count - 1
            for (e, h) in hashes.enumerated() {
                var slot = Int(truncatingIfNeeded: h >> shift)
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(e)
            }
        }
        return hashes.count - 1
    }
}
