import TallyStore
import Testing

@testable import TallySQLite

/// Merging encoded cell blocks (what a commit does when it folds fragments together).
@Suite("CellBlock")
struct CellBlockTests {
    static let nfc = "caf\u{E9}", nfd = "cafe\u{301}"

    /// A block of `cells` (dimension values, sums), its strings numbered in order of first sight.
    static func block(_ dimensions: Int, _ metrics: Int, _ cells: [([String], [Int64])]) -> CellBlock {
        var b = CellBlock(dimensionColumns: dimensions, metricColumns: metrics)
        for (values, sums) in cells {
            for v in values {
                if let i = b.strings.firstIndex(where: { Array($0.utf8) == Array(v.utf8) }) {
                    b.dims.append(Int32(i))
                } else {
                    b.dims.append(Int32(b.strings.count))
                    b.strings.append(v)
                }
            }
            b.sums += sums
            b.count += 1
        }
        return b
    }

    /// The cells of a block as (value bytes, sums), sorted, so blocks compare whatever their order.
    static func cells(_ b: CellBlock) -> [[[UInt8]]: [Int64]] {
        var out: [[[UInt8]]: [Int64]] = [:]
        for c in 0..<b.count {
            let key = (0..<b.dimensionColumns).map { Array(b.strings[Int(b.dims[c * b.dimensionColumns + $0])].utf8) }
            #expect(out[key] == nil, "one cell per distinct tuple")
            out[key] = Array(b.sums[(c * b.metricColumns)..<((c + 1) * b.metricColumns)])
        }
        return out
    }

    static func bytes(_ values: [String]) -> [[UInt8]] { values.map { Array($0.utf8) } }

    /// Cells with the same values (byte for byte) add up; NFC and NFD spellings stay apart; the
    /// columns an older, narrower block lacks read as "" and 0; each distinct string is kept once.
    @Test func cellsAddUpPerDistinctTupleOfBytes() throws {
        let old = Self.block(2, 1, [(["a", Self.nfc], [5]), (["a", ""], [1])])
        let new = Self.block(3, 2, [(["a", Self.nfc, ""], [7, 2]), (["a", Self.nfd, ""], [3, 4]), (["b", "", "x"], [9, 9])])
        let again = Self.block(3, 2, [(["a", "", ""], [10, 1]), (["b", "", "x"], [-9, 1])])
        let merged = try CellBlock.merged(encoded: [old.encoded(), new.encoded(), again.encoded()])
        #expect(merged.dimensionColumns == 3 && merged.metricColumns == 2)
        #expect(Self.cells(merged) == [
            Self.bytes(["a", Self.nfc, ""]): [12, 2],
            Self.bytes(["a", "", ""]): [11, 1],
            Self.bytes(["a", Self.nfd, ""]): [3, 4],
            Self.bytes(["b", "", "x"]): [0, 10],
        ])
        #expect(Set(merged.strings.map { Array($0.utf8) }).count == merged.strings.count)
        #expect(Set(merged.strings.map { Array($0.utf8) }) == Set(Self.bytes(["", "a", "b", "x", Self.nfc, Self.nfd])))
        // The merged block encodes and decodes to itself.
        #expect(try merged.encoded().withUnsafeBytes { try CellBlock(decoding: $0) } == merged)
    }

    @Test func aSumLeavingInt64IsAnOverflowError() {
        let a = Self.block(1, 1, [(["h"], [Int64.max])]), b = Self.block(1, 1, [(["h"], [1])])
        #expect(throws: StoreError(.overflow, "a metric sum exceeds the 64-bit range")) {
            try CellBlock.merged(encoded: [a.encoded(), b.encoded()])
        }
        #expect(throws: StoreError.self) { try CellBlock.merged(encoded: [a.encoded(), [0x01, 0x01, 0x05]]) }
    }
}
