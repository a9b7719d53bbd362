/// A seeded, deterministic random source (SplitMix64): the same seed gives the same data on
/// every run and platform (synthetic data, property tests, fuzz loops).
public struct SeededRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    public mutating func below(_ n: Int64) -> Int64 { Int64(next() % UInt64(n)) }
    public mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}
