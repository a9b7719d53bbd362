import Foundation
import Testing

@testable import TallyCore

struct ParseCase: Sendable, CustomTestStringConvertible {
    var text: String
    var scale: Int
    var allowNegative = false
    var expected: Result<Int64, Exact.ParseError>
    var testDescription: String { "\"\(text)\" scale \(scale)\(allowNegative ? " signed" : "")" }
}

struct RenderCase: Sendable, CustomTestStringConvertible {
    var value: Int64
    var scale: Int
    var divisor: Int64 = 1
    var decimals: Int
    var expected: String
    var testDescription: String { "\(value)e-\(scale)/\(divisor) to \(decimals) decimals" }
}

@Suite("Exact")
struct ExactTests {
    static let gib: Int64 = 1 << 30

    static let parseCases: [ParseCase] = [
        ParseCase(text: "12", scale: 0, expected: .success(12)),
        ParseCase(text: "12", scale: 6, expected: .success(12_000_000)),
        ParseCase(text: "0.0008", scale: 6, expected: .success(800)),
        ParseCase(text: "0.0008", scale: 4, expected: .success(8)),
        ParseCase(text: "0.0008", scale: 3, expected: .failure(.tooManyDecimals(scale: 3))),
        ParseCase(text: "1.50", scale: 1, expected: .success(15)),
        ParseCase(text: "1.500000000", scale: 1, expected: .success(15)),
        ParseCase(text: "1.55", scale: 1, expected: .failure(.tooManyDecimals(scale: 1))),
        ParseCase(text: "1.5", scale: 0, expected: .failure(.tooManyDecimals(scale: 0))),
        ParseCase(text: "1.0", scale: 0, expected: .success(1)),
        ParseCase(text: "1.", scale: 0, expected: .success(1)),
        ParseCase(text: ".5", scale: 1, expected: .success(5)),
        ParseCase(text: "+7", scale: 0, expected: .success(7)),
        ParseCase(text: "007", scale: 2, expected: .success(700)),
        ParseCase(text: "000000000000000000000000012", scale: 0, expected: .success(12)),
        ParseCase(text: "0.000001", scale: 6, expected: .success(1)),
        ParseCase(text: "123456.654321", scale: 6, expected: .success(123_456_654_321)),
        // Exponents.
        ParseCase(text: "2.15e6", scale: 0, expected: .success(2_150_000)),
        ParseCase(text: "2.15E6", scale: 0, expected: .success(2_150_000)),
        ParseCase(text: "2.15e+6", scale: 0, expected: .success(2_150_000)),
        ParseCase(text: "1e-3", scale: 3, expected: .success(1)),
        ParseCase(text: "1e-3", scale: 6, expected: .success(1000)),
        ParseCase(text: "1e-3", scale: 2, expected: .failure(.tooManyDecimals(scale: 2))),
        ParseCase(text: "12e-1", scale: 0, expected: .failure(.tooManyDecimals(scale: 0))),
        ParseCase(text: "120e-1", scale: 0, expected: .success(12)),
        ParseCase(text: "0.000125e3", scale: 3, expected: .success(125)),
        ParseCase(text: "0e9999", scale: 0, expected: .success(0)),
        ParseCase(text: "1e-9999", scale: 6, expected: .failure(.tooManyDecimals(scale: 6))),
        ParseCase(text: "1e9999", scale: 0, expected: .failure(.outOfRange)),
        ParseCase(text: "1e18", scale: 0, expected: .success(1_000_000_000_000_000_000)),
        ParseCase(text: "1e19", scale: 0, expected: .failure(.outOfRange)),
        ParseCase(text: "1e13", scale: 6, expected: .failure(.outOfRange)),
        // Negative values.
        ParseCase(text: "-1", scale: 0, expected: .failure(.negative)),
        ParseCase(text: "-0.5", scale: 6, expected: .failure(.negative)),
        ParseCase(text: "-1", scale: 0, allowNegative: true, expected: .success(-1)),
        ParseCase(text: "-2.5e-1", scale: 2, allowNegative: true, expected: .success(-25)),
        ParseCase(text: "-0", scale: 0, expected: .success(0)),
        ParseCase(text: "-0.000", scale: 3, expected: .success(0)),
        // Overflow.
        ParseCase(text: "9223372036854775807", scale: 0, expected: .success(Int64.max)),
        ParseCase(text: "9223372036854775808", scale: 0, expected: .failure(.outOfRange)),
        ParseCase(text: "99999999999999999999999", scale: 0, expected: .failure(.outOfRange)),
        ParseCase(text: "9223372036854.775807", scale: 6, expected: .success(Int64.max)),
        ParseCase(text: "9223372036854.775808", scale: 6, expected: .failure(.outOfRange)),
        ParseCase(text: "9223372036855", scale: 6, expected: .failure(.outOfRange)),
        ParseCase(text: "-9223372036854775807", scale: 0, allowNegative: true, expected: .success(-Int64.max)),
        // Not numbers.
        ParseCase(text: "", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: ".", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "-", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "abc", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "1.2.3", scale: 3, expected: .failure(.notANumber)),
        ParseCase(text: "1e", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "1e+", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "e5", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: " 1", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "1 ", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "1,5", scale: 1, expected: .failure(.notANumber)),
        ParseCase(text: "0x10", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "--1", scale: 0, allowNegative: true, expected: .failure(.notANumber)),
        ParseCase(text: "1_000", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "NaN", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "inf", scale: 0, expected: .failure(.notANumber)),
        ParseCase(text: "1e5x", scale: 0, expected: .failure(.notANumber)),
    ]

    @Test("parse", arguments: ExactTests.parseCases)
    func parse(_ c: ParseCase) {
        #expect(Exact.parse(c.text, scale: c.scale, allowNegative: c.allowNegative) == c.expected)
    }

    /// Trailing zeros past 18 significant digits do not change the value: `0.1` written with
    /// many zeros is still 0.1, not "too large".
    @Test(
        "parse: trailing zeros beyond 18 digits",
        arguments: [
            ParseCase(text: "0.10000000000000000000", scale: 1, expected: .success(1)),
            ParseCase(text: "1.0000000000000000000", scale: 0, expected: .success(1)),
            ParseCase(text: "0.123456000000000000000000", scale: 6, expected: .success(123_456)),
        ])
    func parseManyTrailingZeros(_ c: ParseCase) {
        #expect(Exact.parse(c.text, scale: c.scale) == c.expected)
    }

    @Test func parseErrorDescriptions() {
        #expect(Exact.ParseError.tooManyDecimals(scale: 0).description == "must be a whole number")
        #expect(Exact.ParseError.tooManyDecimals(scale: 6).description == "has more than 6 decimals")
        #expect(Exact.ParseError.negative.description == "must not be negative")
    }

    static let renderCases: [RenderCase] = [
        // Bytes in GiB: 2,308,544,921 / 1024^3 = 2.14999999944...; half-up at 2 decimals gives 2.15.
        RenderCase(value: 2_308_544_921, scale: 0, divisor: gib, decimals: 2, expected: "2.15"),
        RenderCase(value: 2_308_544_921, scale: 0, divisor: gib, decimals: 9, expected: "2.149999999"),
        RenderCase(value: 2_308_544_921, scale: 0, divisor: gib, decimals: 10, expected: "2.1499999994"),
        RenderCase(value: 2_308_544_921, scale: 0, divisor: gib, decimals: 0, expected: "2"),
        RenderCase(value: 1_073_741_824, scale: 0, divisor: gib, decimals: 2, expected: "1.00"),
        RenderCase(value: 536_870_912, scale: 0, divisor: gib, decimals: 0, expected: "1"),  // 0.5 GiB
        RenderCase(value: 536_870_911, scale: 0, divisor: gib, decimals: 0, expected: "0"),
        RenderCase(value: 1_500_000_000, scale: 0, divisor: 1_000_000_000, decimals: 1, expected: "1.5"),
        RenderCase(value: 999_999_999, scale: 0, divisor: 1_000_000_000, decimals: 2, expected: "1.00"),
        RenderCase(value: 4_999_999, scale: 0, divisor: 1_000_000_000, decimals: 2, expected: "0.00"),
        RenderCase(value: 5_000_000, scale: 0, divisor: 1_000_000_000, decimals: 2, expected: "0.01"),
        // Half away from zero, never banker's rounding.
        RenderCase(value: 5, scale: 1, decimals: 0, expected: "1"),
        RenderCase(value: 15, scale: 1, decimals: 0, expected: "2"),
        RenderCase(value: 25, scale: 1, decimals: 0, expected: "3"),
        RenderCase(value: 4, scale: 1, decimals: 0, expected: "0"),
        RenderCase(value: -5, scale: 1, decimals: 0, expected: "-1"),
        RenderCase(value: -25, scale: 1, decimals: 0, expected: "-3"),
        RenderCase(value: -4, scale: 1, decimals: 0, expected: "0"),
        RenderCase(value: -4, scale: 3, decimals: 2, expected: "0.00"),
        RenderCase(value: -5, scale: 3, decimals: 2, expected: "-0.01"),
        RenderCase(value: 1_234_567, scale: 6, decimals: 2, expected: "1.23"),
        RenderCase(value: 1_235_000, scale: 6, decimals: 2, expected: "1.24"),
        RenderCase(value: 1_234_999, scale: 6, decimals: 2, expected: "1.23"),
        RenderCase(value: 1_995_000, scale: 6, decimals: 2, expected: "2.00"),
        RenderCase(value: 9_999_500, scale: 6, decimals: 3, expected: "10.000"),
        // Trailing zeros kept; padding of small values.
        RenderCase(value: 0, scale: 0, decimals: 2, expected: "0.00"),
        RenderCase(value: 0, scale: 6, decimals: 0, expected: "0"),
        RenderCase(value: 800, scale: 6, decimals: 6, expected: "0.000800"),
        RenderCase(value: 800, scale: 6, decimals: 4, expected: "0.0008"),
        RenderCase(value: 800, scale: 6, decimals: 3, expected: "0.001"),
        RenderCase(value: 7, scale: 0, decimals: 3, expected: "7.000"),
        RenderCase(value: 7, scale: 2, decimals: 2, expected: "0.07"),
        RenderCase(value: 123, scale: 2, decimals: 0, expected: "1"),
        RenderCase(value: 150, scale: 2, decimals: 0, expected: "2"),
        RenderCase(value: 1, scale: 0, decimals: 20, expected: "1." + String(repeating: "0", count: 20)),
        RenderCase(value: 1, scale: 12, decimals: 12, expected: "0.000000000001"),
        // Extremes are exact.
        RenderCase(value: Int64.max, scale: 0, decimals: 2, expected: "9223372036854775807.00"),
        RenderCase(value: Int64.max, scale: 6, decimals: 6, expected: "9223372036854.775807"),
        RenderCase(value: Int64.max, scale: 6, decimals: 0, expected: "9223372036855"),
        RenderCase(value: Int64.min, scale: 0, decimals: 0, expected: "-9223372036854775808"),
        RenderCase(value: Int64.max, scale: 0, divisor: gib, decimals: 3, expected: "8589934592.000"),
    ]

    @Test("render", arguments: ExactTests.renderCases)
    func render(_ c: RenderCase) {
        #expect(Exact.render(c.value, scale: c.scale, divisor: c.divisor, decimals: c.decimals) == c.expected)
    }

    @Test(arguments: [
        (Int64(800), 6, "0.0008"), (12_000_000, 6, "12"), (0, 6, "0"), (12, 0, "12"), (120, 0, "120"),
        (-1_500_000, 6, "-1.5"), (1, 6, "0.000001"), (10, 1, "1"),
    ])
    func renderNatural(value: Int64, scale: Int, expected: String) {
        #expect(Exact.renderNatural(value, scale: scale) == expected)
    }

    /// Totals are rendered from exact sums, never by adding rounded cells.
    @Test func totalsAreRoundedOnceFromExactSums() {
        // Three cells of 0.006 GiB each: each shows 0.01, their total 0.018 GiB shows 0.02 (not 0.03).
        let cells: [Int64] = [6_442_451, 6_442_451, 6_442_451]
        #expect(cells.map { Exact.render($0, scale: 0, divisor: ExactTests.gib, decimals: 2) } == ["0.01", "0.01", "0.01"])
        #expect(Exact.render(cells.reduce(0, +), scale: 0, divisor: ExactTests.gib, decimals: 2) == "0.02")

        // Two cells of 0.4 GiB each: each shows 0, the total 0.8 GiB shows 1.
        let halves: [Int64] = [429_496_730, 429_496_730]
        #expect(halves.map { Exact.render($0, scale: 0, divisor: ExactTests.gib, decimals: 0) } == ["0", "0"])
        #expect(Exact.render(halves.reduce(0, +), scale: 0, divisor: ExactTests.gib, decimals: 0) == "1")

        // Cells summing to exactly 2,308,544,921 bytes show 2.15 GiB even though the rounded cells add to 2.16.
        let parts: [Int64] = [769_514_973, 769_514_974, 769_514_974]
        #expect(parts.reduce(0, +) == 2_308_544_921)
        #expect(parts.map { Exact.render($0, scale: 0, divisor: ExactTests.gib, decimals: 2) } == ["0.72", "0.72", "0.72"])
        #expect(Exact.render(parts.reduce(0, +), scale: 0, divisor: ExactTests.gib, decimals: 2) == "2.15")

        // Decimal costs: 3 × 0.005 shows 0.02 (0.015 rounded half-up), while 3 × rounded 0.01 would be 0.03.
        let costs: [Int64] = [5000, 5000, 5000]
        #expect(costs.map { Exact.render($0, scale: 6, decimals: 2) } == ["0.01", "0.01", "0.01"])
        #expect(Exact.render(costs.reduce(0, +), scale: 6, decimals: 2) == "0.02")
    }

    /// A million random 6-decimal costs summed as Int64 micro-units equal the exact decimal sum
    /// computed independently with Foundation's `Decimal` (base-10, no binary floating point)
    /// from the generated digits, never from Tally's parser.
    @Test func millionCostsSumExactly() throws {
        var rng = SeededRandom(seed: 0x7A11_7A11)
        var exactSum: Int64 = 0
        var decimalSum = Decimal(0)
        for i in 0..<1_000_000 {
            // Up to 99,999.999999 with 0...6 decimals actually written (some with trailing zeros).
            let whole: UInt64 = rng.below(100_000)
            let written = Int(rng.below(7))
            let fraction = rng.below(UInt64(Exact.pow10(written)))
            var text = String(whole)
            if written > 0 {
                let digits = String(fraction)
                text += "." + String(repeating: "0", count: written - digits.count) + digits
                if i % 97 == 0 { text += "00" }  // extra trailing zeros are fine
            } else if i % 11 == 0 {
                text += ".0"
            }
            switch Exact.parse(text, scale: 6) {
            case .success(let v): exactSum += v
            case .failure(let e): Issue.record("\(text): \(e)"); return
            }
            // whole + fraction × 10^-written, in Decimal arithmetic.
            decimalSum += Decimal(sign: .plus, exponent: -written, significand: Decimal(whole * UInt64(Exact.pow10(written)) + fraction))
        }
        let rendered = Exact.render(exactSum, scale: 6, decimals: 6)
        #expect(Decimal(string: rendered, locale: Locale(identifier: "en_US_POSIX")) == decimalSum)
        // The sum is past 2^53 micro-units, where a Double accumulator would lose them.
        #expect(exactSum > 1 << 53)
    }
}
