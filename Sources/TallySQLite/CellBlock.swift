import TallyCore
import TallyStore

/// The aggregates of one account, product, tier and bucket: one cell per distinct tuple of
/// dimension values, with its metric sums. Stored as one compact blob per commit (a fragment),
/// so a commit writes a few rows rather than one row per cell and tier.
///
/// Dimensions and metrics sit in the layout's fixed columns (so renaming or reordering a
/// product's configuration keeps old data under the right names); a column past the end of an
/// older block reads as "" or 0.
struct CellBlock: Equatable {
    var dimensionColumns: Int
    var metricColumns: Int
    /// The block's distinct strings; `dims` holds indexes into it.
    var strings: [String] = []
    /// `dimensionColumns` string indexes per cell.
    var dims: [Int32] = []
    /// `metricColumns` sums per cell.
    var sums: [Int64] = []
    var count = 0

    init(dimensionColumns: Int, metricColumns: Int) {
        self.dimensionColumns = dimensionColumns
        self.metricColumns = metricColumns
    }

    /// A bound on every sum of this block's cells: per metric column, the sum of the values'
    /// magnitudes (at most Int64.max). When the bounds of all fragments of a block add up to no
    /// more than Int64.max, no cell of the block can overflow, and a commit need not read them.
    var magnitude: Int64 {
        var worst: UInt64 = 0
        for m in 0..<metricColumns {
            var total: UInt64 = 0
            for c in 0..<count {
                let (t, o) = total.addingReportingOverflow(sums[c * metricColumns + m].magnitude)
                total = o ? .max : t
            }
            worst = max(worst, total)
        }
        return Int64(min(worst, UInt64(Int64.max)))
    }

    // MARK: Encoding

    /// `D M S (len bytes)×S C (dims×D, zigzag sums×M)×C`, every number a LEB128 varint.
    func encoded() -> [UInt8] {
        // Written through a pointer into a buffer of the largest possible size (a varint takes at
        // most 10 bytes), then trimmed: appending byte by byte checks uniqueness and capacity each time.
        let bound = 40 + strings.reduce(0) { $0 + $1.utf8.count + 10 } + count * (dimensionColumns + metricColumns) * 10
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBufferPointer { b -> Int in
            var w = VarintWriter(out: b)
            w.put(UInt64(dimensionColumns))
            w.put(UInt64(metricColumns))
            w.put(UInt64(strings.count))
            for s in strings {
                w.put(UInt64(s.utf8.count))
                for byte in s.utf8 { w.byte(byte) }
            }
            w.put(UInt64(count))
            dims.withUnsafeBufferPointer { dims in
                sums.withUnsafeBufferPointer { sums in
                    for c in 0..<count {
                        for d in 0..<dimensionColumns { w.put(UInt64(dims[c * dimensionColumns + d])) }
                        for m in 0..<metricColumns {
                            let v = sums[c * metricColumns + m]
                            w.put(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
                        }
                    }
                }
            }
            return w.i
        }
        out.removeLast(bound - written)
        return out
    }

    init(decoding u: UnsafeRawBufferPointer) throws(StoreError) {
        let view = try CellBlockView(decoding: u)
        self.init(dimensionColumns: view.dimensionColumns, metricColumns: view.metricColumns)
        strings = view.strings.map { String(decoding: UnsafeRawBufferPointer(rebasing: u[$0]), as: UTF8.self) }
        dims = view.dims
        sums = view.sums
        count = view.count
    }

    // MARK: Merging

    /// The cells of encoded blocks summed per distinct dimension tuple; throws when a sum
    /// leaves Int64. Strings are numbered by their bytes and cells found in a flat table, so
    /// a merge makes a `String` only for each distinct string of the result.
    static func merged(encoded blobs: [[UInt8]]) throws(StoreError) -> CellBlock {
        var views: [CellBlockView] = []
        for b in blobs {
            let view = b.withUnsafeBytes { raw in Result { () throws(StoreError) in try CellBlockView(decoding: raw) } }
            views.append(try view.get())
        }
        let width = views.map(\.dimensionColumns).max() ?? 0, stride = views.map(\.metricColumns).max() ?? 0
        var strings = ByteStringTable()
        var rows = RowTable(width: width, stride: stride)
        let empty = strings.intern(UnsafeRawBufferPointer(start: nil, count: 0))
        var key = [Int32](repeating: empty, count: width)
        var overflow = false
        for (v, blob) in zip(views, blobs) {
            let local = blob.withUnsafeBytes { raw in v.strings.map { strings.intern(UnsafeRawBufferPointer(rebasing: raw[$0])) } }
            for d in 0..<width { key[d] = empty }
            for c in 0..<v.count {
                for d in 0..<v.dimensionColumns { key[d] = local[Int(v.dims[c * v.dimensionColumns + d])] }
                let r = key.withUnsafeBufferPointer { rows.index(bucket: 0, key: $0) }
                for m in 0..<v.metricColumns {
                    let (t, o) = rows.sums[r * stride + m].addingReportingOverflow(v.sums[c * v.metricColumns + m])
                    rows.sums[r * stride + m] = t
                    overflow = overflow || o
                }
            }
        }
        if overflow { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
        var out = CellBlock(dimensionColumns: width, metricColumns: stride)
        out.strings = (0..<strings.count).map { strings.string(Int32($0)) }
        out.dims = rows.keys
        out.sums = rows.sums
        out.count = rows.count
        return out
    }
}

/// A `CellBlock` decoded with its strings left as byte ranges of the encoding, so a report
/// numbers the strings it needs by their bytes instead of making a `String` of each.
struct CellBlockView {
    let dimensionColumns: Int
    let metricColumns: Int
    /// Where each of the block's distinct strings lies in the encoding.
    var strings: [Range<Int>] = []
    var dims: [Int32] = []
    var sums: [Int64] = []
    var count = 0

    init(decoding u: UnsafeRawBufferPointer) throws(StoreError) {
        var r = VarintReader(u: u)
        dimensionColumns = try r.int()
        metricColumns = try r.int()
        let stringCount = try r.int()
        guard stringCount <= u.count else { throw StoreError(.unavailable, "a cell block is damaged") }
        strings.reserveCapacity(stringCount)
        for _ in 0..<stringCount { strings.append(try r.bytes()) }
        count = try r.int()
        guard count <= u.count else { throw StoreError(.unavailable, "a cell block is damaged") }
        dims.reserveCapacity(count * dimensionColumns)
        sums.reserveCapacity(count * metricColumns)
        for _ in 0..<count {
            for _ in 0..<dimensionColumns {
                let s = try r.int()
                guard s < stringCount else { throw StoreError(.unavailable, "a cell block is damaged") }
                dims.append(Int32(s))
            }
            for _ in 0..<metricColumns {
                let z = try r.next()
                sums.append(Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1))
            }
        }
    }
}

/// Writes LEB128 varints into a buffer the caller sized for them.
struct VarintWriter {
    let out: UnsafeMutableBufferPointer<UInt8>
    var i = 0

    mutating func byte(_ b: UInt8) {
        out[i] = b
        i += 1
    }

    /// Copies `bytes` as they are.
    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        UnsafeMutableRawPointer(out.baseAddress! + i).copyMemory(from: base, byteCount: bytes.count)
        i += bytes.count
    }

    mutating func put(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }
}

/// Reads LEB128 varints, throwing on damaged input instead of trapping.
struct VarintReader {
    let u: UnsafeRawBufferPointer
    var i = 0

    mutating func next() throws(StoreError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < u.count, shift < 64 {
            let b = u[i]
            i += 1
            v |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        throw StoreError(.unavailable, "a cell block is damaged")
    }

    mutating func int() throws(StoreError) -> Int {
        let v = try next()
        guard v <= UInt64(Int32.max) else { throw StoreError(.unavailable, "a cell block is damaged") }
        return Int(v)
    }

    /// The range of a length-prefixed run of bytes.
    mutating func bytes() throws(StoreError) -> Range<Int> {
        let n = try int()
        guard i + n <= u.count else { throw StoreError(.unavailable, "a cell block is damaged") }
        defer { i += n }
        return i..<(i + n)
    }
}
