import Foundation

/// A file's identity on its file system: it survives renames, unlike its name.
public struct FileIdentity: Sendable, Hashable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
    public var description: String { "\(device):\(inode)" }
}

/// Where a follower stands in a log, as committed with the usage read before it.
///
/// The file is named by identity (device and inode), so a restart finds it again after a
/// rotation renamed it. `head` fingerprints the file's first bytes, so a file that was
/// truncated and rewritten, or a new file that reuses the inode, is not taken for the old one.
public struct TailPosition: Sendable, Equatable, CustomStringConvertible {
    public var file: FileIdentity
    /// Bytes consumed: the end of the last complete line read.
    public var offset: Int64
    /// Complete lines before `offset` (for `file:line` in messages).
    public var line: Int64
    /// How many of the file's first bytes `headHash` covers: `min(offset, headMax)`.
    public var headLength: Int
    /// FNV-1a of the file's first `headLength` bytes.
    public var headHash: UInt64

    /// The most of a file's first bytes a fingerprint covers (a Squid line is about 100 bytes).
    public static let headMax = 256

    public init(file: FileIdentity, offset: Int64, line: Int64, headLength: Int, headHash: UInt64) {
        self.file = file
        self.offset = offset
        self.line = line
        self.headLength = headLength
        self.headHash = headHash
    }

    /// The stored form, e.g. `v1 dev=2049 ino=1234 off=5678 line=40 head=256:9f3a...`.
    public var description: String {
        "v1 dev=\(file.device) ino=\(file.inode) off=\(offset) line=\(line) head=\(headLength):\(String(headHash, radix: 16))"
    }

    /// Parses the stored form; nil for anything else.
    public init?(_ text: String) {
        var fields: [Substring: Substring] = [:]
        let parts = text.split(separator: " ")
        guard parts.first == "v1" else { return nil }
        for part in parts.dropFirst() {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let dev = fields["dev"].flatMap({ UInt64($0) }), let ino = fields["ino"].flatMap({ UInt64($0) }),
              let off = fields["off"].flatMap({ Int64($0) }), off >= 0,
              let line = fields["line"].flatMap({ Int64($0) }), line >= 0,
              let head = fields["head"], let colon = head.firstIndex(of: ":"),
              let length = Int(head[..<colon]), length >= 0, length <= Self.headMax, Int64(length) <= off,
              let hash = UInt64(head[head.index(after: colon)...], radix: 16)
        else { return nil }
        self.init(file: FileIdentity(device: dev, inode: ino), offset: off, line: line, headLength: length, headHash: hash)
    }

    /// FNV-1a, 64 bits.
    static func fingerprint(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }
}
