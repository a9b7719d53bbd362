/// An IPv4 or IPv6 address, kept as 16 bytes (IPv4 as its IPv4-mapped IPv6 form).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Network byte order; an IPv4 address is `::ffff:a.b.c.d`.
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF }

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `192.0.2.1`, `2001:db8::1`, `::ffff:192.0.2.1` or `[::1]`; a `%zone` suffix is ignored.
    public init?(_ text: some StringProtocol) {
        var s = Substring(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if let pct = s.firstIndex(of: "%") { s = s[..<pct] }
        guard !s.isEmpty, s.utf8.count <= 45 else { return nil }
        if s.contains(":") {
            guard let b = IPAddress.parseIPv6(s) else { return nil }
            bytes = b
        } else {
            guard let v4 = IPAddress.parseIPv4(s) else { return nil }
            bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + v4
        }
    }

    static func parseIPv4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), p.allSatisfy(\.isNumber), let v = UInt8(p) else { return nil }
            if p.count > 1 && p.first == "0" { return nil }  // no octal-looking octets
            out.append(v)
        }
        return out
    }

    static func parseIPv6(_ s: Substring) -> [UInt8]? {
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowV4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, g) in items.enumerated() {
                if allowV4Tail && i == items.count - 1 && g.contains(".") {
                    guard let v4 = parseIPv4(g) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(g.count), g.allSatisfy(\.isHexDigit), let v = UInt16(g, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowV4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowV4Tail: false), let tail = groups(halves[1], allowV4Tail: true),
              head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    public var description: String {
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}

/// A CIDR block (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a block of one.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    /// Prefix length over the 128-bit form (an IPv4 `/8` is stored as `/104`).
    let prefix: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return nil }
        let width = addr.isIPv4 && !parts[0].contains(":") ? 32 : 128
        var length = width
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isNumber), let n = Int(parts[1]), n <= width else { return nil }
            length = n
        }
        prefix = length + (128 - width)
        address = IPNetwork.mask(addr, prefix)
    }

    static func mask(_ a: IPAddress, _ prefix: Int) -> IPAddress {
        var b = a.bytes
        for i in 0..<16 {
            let keep = max(0, min(8, prefix - i * 8))
            b[i] &= keep == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return IPAddress(bytes: b)
    }

    public func contains(_ a: IPAddress) -> Bool { IPNetwork.mask(a, prefix) == address }

    public var description: String {
        address.isIPv4 && prefix >= 96 ? "\(address)/\(prefix - 96)" : "\(address)/\(prefix)"
    }
}
