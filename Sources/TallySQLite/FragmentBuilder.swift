import CSQLite
import Foundation
import TallyCore
import TallyStore

/// A batch's cell blocks at every tier, each already encoded as a `CellBlock` fragment.
///
/// Built on the committing task before the batch queues for the one writer (many commits
/// prepare at once), so the writer only admits dedup keys, looks up accounts, merges levels and
/// inserts rows. It assumes every event is admitted; the writer rebuilds it without the
/// duplicates when some are not.
struct PreparedBatch {
    /// One block's fragment: its key and where its encoding lies in `bytes`.
    struct Fragment {
        /// The account and product as string numbers of the batch's columns.
        var account: Int32
        var product: Int32
        var tier: Tier
        var bucket: Int64
        var magnitude: Int64
        var bytes: Range<Int>
    }

    var fragments: [Fragment] = []
    /// Every fragment's encoding, one after another.
    var bytes = FragmentBytes()
    /// The layout generation the fragments were encoded with.
    var generation = 0

    /// Builds the fragments of `columns` without the events whose `skip` entry is true.
    ///
    /// Per tier one pass over the tier below (events for quarter hours, quarter cells for hours,
    /// hour cells for days): number each input's block (account, product, bucket), order the
    /// inputs by block with a counting sort, sum each block's cells through a slot per series,
    /// and encode the block straight from those sums and the batch's string numbers.
    /// Throws `StoreError(.overflow)` when a sum leaves Int64 and `.invalid` for an unknown product.
    init(_ columns: EventColumns, skipping skip: [Bool]?, layouts: [String: SQLiteUsageStore.Layout], generation: Int) throws {
        self.generation = generation
        guard columns.count > 0 else { return }
        var builder = FragmentBuilder(columns, layouts: layouts)
        defer { builder.free() }
        try builder.build(skip: skip, into: &self)
    }
}

/// A growing run of bytes, written while a batch is prepared and read by the writer after.
///
/// Grown with `realloc`, which moves large buffers by remapping pages instead of copying them
/// (and, unlike `[UInt8]`, needs no zero-filling of room that is never written).
final class FragmentBytes: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int = 0) {
        self.capacity = max(capacity, 64)
        base = realloc(nil, self.capacity)!.bindMemory(to: UInt8.self, capacity: self.capacity)
    }

    deinit { free(base) }

    /// Makes room for `n` more bytes past `count`.
    func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        capacity = max(count + n, capacity * 2)
        base = realloc(base, capacity)!.bindMemory(to: UInt8.self, capacity: capacity)
    }

    /// Gives back the room past `count`.
    func trim() {
        capacity = max(count, 64)
        base = realloc(base, capacity)!.bindMemory(to: UInt8.self, capacity: capacity)
    }

    /// The bytes in `range` (valid while this buffer lives).
    subscript(range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }
}

/// A tier's cells in block order: series, bucket start, `stride` sums and the series' dimension
/// values (`dimensionStride` string numbers, copied so the coarser tiers and the encoder read
/// them in order instead of looking up each series), in buffers sized once per batch (a cell
/// per input at most).
private struct CellTable {
    let series: UnsafeMutablePointer<Int32>
    let buckets: UnsafeMutablePointer<Int64>
    let sums: UnsafeMutablePointer<Int64>
    let dimensions: UnsafeMutablePointer<Int32>
    var count = 0

    init(capacity: Int, stride: Int, dimensionStride: Int) {
        series = .allocate(capacity: capacity)
        buckets = .allocate(capacity: capacity)
        sums = .allocate(capacity: capacity * stride)
        dimensions = .allocate(capacity: capacity * dimensionStride)
    }

    func free() {
        series.deallocate()
        buckets.deallocate()
        sums.deallocate()
        dimensions.deallocate()
    }
}

/// The working state of `PreparedBatch.init`: scratch tables sized once per batch, so the
/// passes allocate nothing per cell.
private struct FragmentBuilder {
    let c: EventColumns
    let layouts: [String: SQLiteUsageStore.Layout]
    /// Sums kept per cell: the most metrics any series of the batch has.
    let stride: Int
    /// Dimension values kept per cell: the most dimensions any product has.
    let dimensionStride: Int
    /// The (account, product) pair of each series, numbered per batch.
    var pairOfSeries: [Int32] = []
    var pairAccount: [Int32] = []
    var pairProduct: [Int32] = []
    var pairLayout: [ColumnMap?] = []
    /// The cell of each series in the block being summed (-1: none yet).
    let cellOfSeries: UnsafeMutablePointer<Int32>
    /// Every string's UTF-8 bytes, one after another, and where each starts (one more at the end):
    /// blocks copy them from here instead of touching a `String` per cell.
    var stringBytes: [UInt8] = []
    var stringStarts: [Int] = []
    /// Each string's number in the block being encoded (-1: not in it yet), and the block's strings.
    let local: UnsafeMutablePointer<Int32>
    var blockStrings: [Int32] = []
    /// Per input: its block; then the inputs ordered by block.
    let blockOf: UnsafeMutablePointer<Int32>
    let order: UnsafeMutablePointer<Int32>
    var blocks = BlockTable()

    /// A product's layout as the fixed-width maps the encoder reads per cell.
    struct ColumnMap {
        var dimensionColumns: Int
        var metricColumns: Int
        /// The number of dimensions (series lanes 2...) the product has.
        var dimensions: Int
        /// The dimension in each column (-1: none, written as "").
        var dimensionOfColumn: [Int]
        /// The metric of each column (-1: none, written as 0).
        var metricOfColumn: [Int]
        /// Whether a column has no dimension, so every cell holds "" there.
        var hasEmptyColumn: Bool
    }

    init(_ c: EventColumns, layouts: [String: SQLiteUsageStore.Layout]) {
        self.c = c
        self.layouts = layouts
        stride = max(1, c.seriesMetricCounts.max() ?? 1)
        dimensionStride = min(max(1, layouts.values.map(\.dimensionColumns.count).max() ?? 1), EventColumns.Series.scalarCount - 2)
        cellOfSeries = .allocate(capacity: c.series.count)
        cellOfSeries.initialize(repeating: -1, count: c.series.count)
        local = .allocate(capacity: c.strings.count)
        local.initialize(repeating: -1, count: c.strings.count)
        blockOf = .allocate(capacity: c.count)
        order = .allocate(capacity: c.count)
        var pairs: [Int64: Int32] = [:]
        pairOfSeries.reserveCapacity(c.series.count)
        for s in c.series {
            let key = Int64(s[0]) << 32 | Int64(UInt32(bitPattern: s[1]))
            if let p = pairs[key] {
                pairOfSeries.append(p)
            } else {
                let p = Int32(pairAccount.count)
                pairs[key] = p
                pairAccount.append(s[0])
                pairProduct.append(s[1])
                pairOfSeries.append(p)
            }
        }
        pairLayout = Array(repeating: nil, count: pairAccount.count)
        stringStarts.reserveCapacity(c.strings.count + 1)
        for var s in c.strings {
            stringStarts.append(stringBytes.count)
            s.withUTF8 { stringBytes.append(contentsOf: $0) }
        }
        stringStarts.append(stringBytes.count)
    }

    func free() {
        cellOfSeries.deallocate()
        local.deallocate()
        blockOf.deallocate()
        order.deallocate()
    }

    mutating func build(skip: [Bool]?, into out: inout PreparedBatch) throws {
        let c = self.c
        var input = CellTable(capacity: c.count, stride: stride, dimensionStride: dimensionStride)
        var output = CellTable(capacity: c.count, stride: stride, dimensionStride: dimensionStride)
        defer {
            input.free()
            output.free()
        }
        // More than the fragments of a batch usually take (strings and varints for three tiers), so
        // the buffer seldom grows; room never written costs no memory, and is given back at the end.
        out.bytes = FragmentBytes(capacity: 48 * c.count + 4_096)
        try withSkip(skip) { skip in
            try c.eventSeries.withUnsafeBufferPointer { series in
                try c.times.withUnsafeBufferPointer { times in
                    try c.metrics.withUnsafeBufferPointer { metrics in
                        try c.seriesMetricCounts.withUnsafeBufferPointer { metricCounts in
                            try c.series.withUnsafeBytes { seriesLanes in
                                let events = Inputs(
                                    count: c.count, series: series.baseAddress!, times: times.baseAddress!, values: metrics.baseAddress!,
                                    valueStride: c.metricStride, metricCounts: metricCounts.baseAddress!, dimensions: nil,
                                    seriesLanes: seriesLanes.baseAddress!, skip: skip)
                                try tier(.quarterHour, events, into: &input, out: &out)
                            }
                        }
                    }
                }
            }
        }
        for t in [Tier.hour, .day] {
            let finer = Inputs(
                count: input.count, series: input.series, times: input.buckets, values: input.sums, valueStride: stride,
                metricCounts: nil, dimensions: input.dimensions, seriesLanes: nil, skip: nil)
            try tier(t, finer, into: &output, out: &out)
            swap(&input, &output)
        }
        out.bytes.trim()
    }

    private func withSkip<T>(_ skip: [Bool]?, _ body: (UnsafePointer<Bool>?) throws -> T) rethrows -> T {
        guard let skip else { return try body(nil) }
        return try skip.withUnsafeBufferPointer { try body($0.baseAddress) }
    }

    /// What a tier is summed from: the batch's events, or the cells of the tier below.
    struct Inputs {
        var count: Int
        var series: UnsafePointer<Int32>
        var times: UnsafePointer<Int64>
        var values: UnsafePointer<Int64>
        var valueStride: Int
        /// The number of values of each series (nil: `valueStride`, the rest being zeros).
        var metricCounts: UnsafePointer<Int>?
        /// `dimensionStride` string numbers per input, or nil to read them from the series' lanes.
        var dimensions: UnsafePointer<Int32>?
        var seriesLanes: UnsafeRawPointer?
        var skip: UnsafePointer<Bool>?
    }

    /// Sums the inputs into `cells` at `tier` (in block order) and encodes each block into `out`.
    private mutating func tier(_ tier: Tier, _ inputs: Inputs, into cells: inout CellTable, out: inout PreparedBatch) throws {
        let seconds = tier.seconds
        let (n, series, times, values, valueStride, skip) = (inputs.count, inputs.series, inputs.times, inputs.values, inputs.valueStride, inputs.skip)
        let (blockOf, order, cellOf, stride, dimensionStride) = (self.blockOf, self.order, self.cellOfSeries, self.stride, self.dimensionStride)
        // Number each input's block; inputs come mostly in time order, so most share the last one's.
        blocks.reset(expected: n)
        let pairOfSeries = self.pairOfSeries
        var lastPair: Int32 = -1, lastBucket = Int64.min, last: Int32 = -1
        pairOfSeries.withUnsafeBufferPointer { pairOf in
            for i in 0..<n {
                if let skip, skip[i] {
                    blockOf[i] = -1
                    continue
                }
                let p = pairOf[Int(series[i])]
                let bucket = floorDiv(times[i], seconds) &* seconds
                if p != lastPair || bucket != lastBucket {
                    last = blocks.index(pair: p, bucket: bucket)
                    lastPair = p
                    lastBucket = bucket
                }
                blockOf[i] = last
            }
        }
        // Counting sort of the inputs by block.
        let blockCount = blocks.count
        var starts = [Int](repeating: 0, count: blockCount + 1)
        starts.withUnsafeMutableBufferPointer { st in
            for i in 0..<n where blockOf[i] >= 0 { st[Int(blockOf[i]) + 1] += 1 }
            for k in 0..<blockCount { st[k + 1] += st[k] }
            var next = Array(st[0..<blockCount])
            next.withUnsafeMutableBufferPointer { nx in
                for i in 0..<n where blockOf[i] >= 0 {
                    let k = Int(blockOf[i])
                    order[nx[k]] = Int32(i)
                    nx[k] += 1
                }
            }
        }
        cells.count = 0
        for k in 0..<blockCount {
            let first = cells.count
            let bucket = blocks.buckets[k]
            var overflow = false
            for j in starts[k]..<starts[k + 1] {
                let i = Int(order[j])
                let s = series[i]
                var cell = Int(cellOf[Int(s)])
                if cell < 0 {
                    cell = cells.count
                    cells.count += 1
                    cellOf[Int(s)] = Int32(cell)
                    cells.series[cell] = s
                    cells.buckets[cell] = bucket
                    // Element by element: a few numbers each, where memset and memmove calls cost more than the copy.
                    for m in 0..<stride { cells.sums[cell * stride + m] = 0 }
                    let dims = cells.dimensions + cell * dimensionStride
                    if let from = inputs.dimensions {
                        for d in 0..<dimensionStride { dims[d] = from[i * dimensionStride + d] }
                    } else if let lanes = inputs.seriesLanes {
                        let lane = Int(s) * MemoryLayout<EventColumns.Series>.stride + 8
                        for d in 0..<dimensionStride { dims[d] = lanes.load(fromByteOffset: lane + 4 * d, as: Int32.self) }
                    }
                }
                let sums = cells.sums + cell * stride
                let v = values + i * valueStride
                for m in 0..<(inputs.metricCounts?[Int(s)] ?? valueStride) {
                    let (t, o) = sums[m].addingReportingOverflow(v[m])
                    sums[m] = t
                    overflow = overflow || o
                }
            }
            for cell in first..<cells.count { cellOf[Int(cells.series[cell])] = -1 }
            if overflow { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
            try encode(block: k, tier: tier, cells: cells, range: first..<cells.count, out: &out)
        }
    }

    private mutating func columnMap(pair p: Int) throws -> ColumnMap {
        if let m = pairLayout[p] { return m }
        let product = c.strings[Int(pairProduct[p])]
        guard let l = layouts[product] else { throw StoreError(.invalid, "unknown product \(product)") }
        let d = (l.dimensionColumns.max() ?? -1) + 1, mc = (l.metricColumns.max() ?? -1) + 1
        var metricOfColumn = [Int](repeating: -1, count: mc), dimensionOfColumn = [Int](repeating: -1, count: d)
        for (m, col) in l.metricColumns.enumerated() { metricOfColumn[col] = m }
        for (i, col) in l.dimensionColumns.enumerated() { dimensionOfColumn[col] = i }
        let map = ColumnMap(dimensionColumns: d, metricColumns: mc, dimensions: l.dimensionColumns.count, dimensionOfColumn: dimensionOfColumn,
                            metricOfColumn: metricOfColumn, hasEmptyColumn: dimensionOfColumn.contains(-1))
        pairLayout[p] = map
        return map
    }

    /// Encodes one block's cells (the `CellBlock` byte format) and its magnitude.
    private mutating func encode(block k: Int, tier: Tier, cells: CellTable, range: Range<Int>, out: inout PreparedBatch) throws {
        let pair = Int(blocks.pairs[k])
        let map = try columnMap(pair: pair)
        let (local, stride, dimensionStride, starts, allBytes) = (self.local, self.stride, self.dimensionStride, self.stringStarts, self.stringBytes)
        // The block's strings, numbered in order of first use; "" last when some column has no value.
        var stringBytes = 0
        var needsEmpty = map.hasEmptyColumn
        var strings = self.blockStrings
        self.blockStrings = []
        strings.removeAll(keepingCapacity: true)
        for cell in range {
            let dims = cells.dimensions + cell * dimensionStride
            for d in 0..<map.dimensions {
                let n = dims[d]
                if n < 0 {
                    needsEmpty = true
                } else if local[Int(n)] < 0 {
                    local[Int(n)] = Int32(strings.count)
                    strings.append(n)
                    stringBytes += starts[Int(n) + 1] - starts[Int(n)]
                }
            }
        }
        let empty = Int32(strings.count)
        let stringCount = strings.count + (needsEmpty ? 1 : 0)
        let bound = 40 + stringBytes + stringCount * 10 + range.count * (map.dimensionColumns + map.metricColumns) * 10
        let buffer = out.bytes
        buffer.reserve(bound)
        var magnitude: UInt64 = 0
        let start = buffer.count
        buffer.count = {
            var w = VarintWriter(out: UnsafeMutableBufferPointer(start: buffer.base, count: buffer.capacity), i: start)
            w.put(UInt64(map.dimensionColumns))
            w.put(UInt64(map.metricColumns))
            w.put(UInt64(stringCount))
            allBytes.withUnsafeBytes { all in
                for n in strings {
                    let bytes = UnsafeRawBufferPointer(rebasing: all[starts[Int(n)]..<starts[Int(n) + 1]])
                    w.put(UInt64(bytes.count))
                    w.bytes(bytes)
                }
            }
            if needsEmpty { w.put(0) }
            w.put(UInt64(range.count))
            magnitude = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: map.metricColumns) { totals in
                totals.initialize(repeating: 0)
                for cell in range {
                    let dims = cells.dimensions + cell * dimensionStride
                    for col in 0..<map.dimensionColumns {
                        let d = map.dimensionOfColumn[col]
                        let n = d < 0 ? -1 : dims[d]
                        w.put(UInt64(n < 0 ? empty : local[Int(n)]))
                    }
                    // A series' sums past its product's metrics are zeros.
                    let sums = cells.sums + cell * stride
                    for col in 0..<map.metricColumns {
                        let m = map.metricOfColumn[col]
                        let v = m >= 0 && m < stride ? sums[m] : 0
                        w.put(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
                        let (t, o) = totals[col].addingReportingOverflow(v.magnitude)
                        totals[col] = o ? .max : t
                    }
                }
                return totals.max() ?? 0
            }
            return w.i
        }()
        for n in strings { local[Int(n)] = -1 }
        blockStrings = strings
        out.fragments.append(PreparedBatch.Fragment(
            account: pairAccount[pair], product: pairProduct[pair], tier: tier, bucket: blocks.buckets[k],
            magnitude: Int64(min(magnitude, UInt64(Int64.max))), bytes: start..<buffer.count))
    }
}

/// Blocks (an account-product pair and a bucket) numbered in order of first use, found by open addressing.
private struct BlockTable {
    var pairs: [Int32] = []
    var buckets: [Int64] = []
    private var slots: [Int32] = []
    private var shift: UInt64 = 64

    var count: Int { pairs.count }

    /// Empties the table, sized for about `expected` inputs (blocks are usually far fewer).
    mutating func reset(expected: Int) {
        pairs.removeAll(keepingCapacity: true)
        buckets.removeAll(keepingCapacity: true)
        var size = 1 << 8
        while size < min(expected, 1 << 16) * 2 { size *= 2 }
        slots = [Int32](repeating: -1, count: size)
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    private func home(_ pair: Int32, _ bucket: Int64) -> Int {
        Int(truncatingIfNeeded: QuickHash.finish(QuickHash.mix(QuickHash.mix(QuickHash.seed, UInt64(bitPattern: bucket)), UInt64(UInt32(bitPattern: pair)))) >> shift)
    }

    /// The number of the block, adding it when new.
    mutating func index(pair: Int32, bucket: Int64) -> Int32 {
        let mask = slots.count - 1
        var slot = home(pair, bucket)
        while slots[slot] >= 0 {
            let k = Int(slots[slot])
            if pairs[k] == pair, buckets[k] == bucket { return slots[slot] }
            slot = (slot + 1) & mask
        }
        let n = Int32(pairs.count)
        pairs.append(pair)
        buckets.append(bucket)
        slots[slot] = n
        if pairs.count * 2 > slots.count { grow() }
        return n
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        shift -= 1
        let mask = slots.count - 1
        for k in pairs.indices {
            var slot = home(pairs[k], buckets[k])
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(k)
        }
    }
}

extension Statement {
    /// Binds bytes that stay valid until the statement has run (SQLite does not copy them).
    func bind(_ i: Int32, bytes: UnsafeRawBufferPointer) {
        sqlite3_bind_blob64(pointer, i, bytes.baseAddress, sqlite3_uint64(bytes.count), nil)
    }
}
