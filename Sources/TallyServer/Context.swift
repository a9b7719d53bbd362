import Hummingbird
import NIOCore

/// The request context of every Tally route: the peer address (for IP allow-lists).
public struct TallyContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Ingest bodies are collected by the routes themselves up to `ingest.max_body_bytes`.
    public var maxUploadSize: Int { 64 << 20 }
}
