import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request whose header block passes the HTTP parser's limit (80 KiB of header bytes,
/// or 1000 fields) with `431` and a native JSON error, then closes the connection.
///
/// Without it Hummingbird answers a bare `400` with no body, which tells a client nothing.
final class OversizedHeadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let body = #"{"error":{"code":"headers_too_large","message":"the request's header block is too large (at most 80 KiB and 1000 fields)"}}"#

    /// A request head was read and its response has not ended: an error now is Hummingbird's to handle.
    private var answering = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { answering = true }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { answering = false }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let e = error as? HTTPParserError, e == .headerOverflow, !answering else {
            context.fireErrorCaught(error)
            return
        }
        answering = true
        let body = ByteBuffer(string: OversizedHeadHandler.body)
        let head = HTTPResponse(status: .requestHeaderFieldsTooLarge, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
