import CStewardCurl
import StewardCore
import Synchronization

/// One libcurl transfer, run on a thread of its own so that the blocking `curl_easy_perform`
/// never occupies a thread of the Swift concurrency pool.
enum CurlTransfer {
    /// `curl_global_init`, run once per process (Swift runs a static's initialiser exactly once,
    /// thread-safely), before the first handle is made. The CURLcode, 0 on success.
    static let globalInit: UInt32 = steward_curl_global_init().rawValue

    /// Everything a transfer needs, already validated.
    struct Request: Sendable {
        var url: String
        /// `Name: value` lines, without `Content-Encoding` (added once the body is compressed).
        var headers: [String]
        var body: [UInt8]
        var compresses: Bool
        var caBundlePath: String?
        /// A `CURLOPT_PINNEDPUBLICKEY` value.
        var pins: String?
        /// A PEM client certificate and its key, for mutual TLS.
        var clientCertificatePath: String?
        var clientKeyPath: String?
        var connectTimeoutMilliseconds: Int
        var timeoutMilliseconds: Int
        var usesEnvironmentProxies: Bool
        var maximumResponseBytes: Int
    }

    /// Shared between the waiting task (which may cancel) and the transfer's thread.
    final class Control: Sendable {
        let cancelled = Atomic<Bool>(false)
    }

    /// State the libcurl callbacks write into; confined to the transfer's thread.
    private final class Context {
        let control: Control
        let limit: Int
        var body: [UInt8] = []
        var truncated = false
        var retryAfter: String?

        init(control: Control, limit: Int) {
            self.control = control
            self.limit = limit
        }
    }

    /// The threads transfers run on: reused from one transfer to the next.
    static let threads = ReusableThreads(name: "steward.http")

    /// Runs `request` on a thread of ``threads`` and waits for it without blocking the caller's
    /// thread.
    /// Cancelling the calling task aborts the transfer.
    static func perform(_ request: Request) async -> Exchange {
        if Task.isCancelled { return Exchange(failure: .cancelled) }
        let control = Control()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Exchange, Never>) in
                threads.run { continuation.resume(returning: run(request, control: control)) }
            }
        } onCancel: {
            control.cancelled.store(true, ordering: .relaxed)
        }
    }

    /// The blocking transfer. Every handle, list and buffer it makes is freed before it returns.
    private static func run(_ request: Request, control: Control) -> Exchange {
        guard globalInit == 0, let handle = curl_easy_init() else {
            return Exchange(failure: .local("libcurl could not create a transfer handle."))
        }
        defer { curl_easy_cleanup(handle) }

        var body = request.body
        var headers = request.headers
        if request.compresses, let compressed = Gzip.compress(body) {
            body = compressed
            headers.append("Content-Encoding: gzip")
        }
        var list: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(list) }
        for line in headers {
            guard let next = curl_slist_append(list, line) else {
                return Exchange(failure: .local("libcurl could not allocate the request headers."))
            }
            list = next
        }

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        let context = Context(control: control, limit: request.maximumResponseBytes)
        let contextPointer = Unmanaged.passUnretained(context).toOpaque()
        if body.isEmpty { body.reserveCapacity(1) }

        let code: CURLcode = withExtendedLifetime(context) {
            body.withUnsafeMutableBufferPointer { bodyBytes -> CURLcode in
                var setupFailure: CURLcode?
                func set(_ result: CURLcode) {
                    if result != CURLE_OK, setupFailure == nil { setupFailure = result }
                }
                set(steward_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
                set(steward_curl_setopt_string(handle, CURLOPT_URL, request.url))
                set(steward_curl_allow_http_only(handle))
                // Threads: no signals (SIGALRM) from libcurl; name resolution is asynchronous.
                set(steward_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                set(steward_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
                set(steward_curl_setopt_long(handle, CURLOPT_POST, 1))
                set(steward_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBytes.count)))
                set(steward_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bodyBytes.baseAddress))
                set(steward_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, list))
                set(steward_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds))
                set(steward_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds))
                set(steward_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
                set(steward_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
                if let path = request.caBundlePath {
                    // The bundle replaces the system store: no CA directory either.
                    set(steward_curl_setopt_string(handle, CURLOPT_CAINFO, path))
                    set(steward_curl_setopt_string(handle, CURLOPT_CAPATH, nil))
                }
                if let pins = request.pins {
                    set(steward_curl_setopt_string(handle, CURLOPT_PINNEDPUBLICKEY, pins))
                }
                if let certificate = request.clientCertificatePath {
                    set(steward_curl_setopt_string(handle, CURLOPT_SSLCERTTYPE, "PEM"))
                    set(steward_curl_setopt_string(handle, CURLOPT_SSLCERT, certificate))
                    if let key = request.clientKeyPath {
                        set(steward_curl_setopt_string(handle, CURLOPT_SSLKEYTYPE, "PEM"))
                        set(steward_curl_setopt_string(handle, CURLOPT_SSLKEY, key))
                    }
                }
                // Proxies: left unset, libcurl reads https_proxy, http_proxy, all_proxy and
                // no_proxy from the environment; an empty string turns that off.
                if !request.usesEnvironmentProxies {
                    set(steward_curl_setopt_string(handle, CURLOPT_PROXY, ""))
                }

                set(steward_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, contextPointer))
                set(
                    steward_curl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, user in
                        guard let user else { return 0 }
                        let context = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                        let length = size * count
                        guard let data, length > 0 else { return length }
                        let room = context.limit - context.body.count
                        let taken = min(room, length)
                        data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                            context.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: taken))
                        }
                        guard taken == length else {
                            context.truncated = true
                            return 0  // stops the transfer: CURLE_WRITE_ERROR
                        }
                        return length
                    })
                set(steward_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, contextPointer))
                set(
                    steward_curl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, user in
                        guard let user else { return 0 }
                        let context = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                        let length = size * count
                        guard let data, length > 0 else { return length }
                        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                            Array(UnsafeBufferPointer(start: bytes, count: min(length, 512)))
                        }
                        CurlTransfer.readHeader(line, into: context)
                        return length
                    })
                set(steward_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
                set(steward_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, contextPointer))
                set(
                    steward_curl_setopt_xferinfo_function(handle, CURLOPT_XFERINFOFUNCTION) { user, _, _, _, _ in
                        guard let user else { return 0 }
                        let context = Unmanaged<Context>.fromOpaque(user).takeUnretainedValue()
                        return context.control.cancelled.load(ordering: .relaxed) ? 1 : 0
                    })
                if let setupFailure { return setupFailure }
                return curl_easy_perform(handle)
            }
        }

        var exchange = Exchange()
        var status = 0
        if steward_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, status >= 200 {
            exchange.status = status
        }
        exchange.body = context.body
        exchange.bodyTruncated = context.truncated
        exchange.retryAfter = context.retryAfter
        if code != CURLE_OK, !(code == CURLE_WRITE_ERROR && context.truncated) {
            var detail = String(cString: errorBuffer)
            if detail.isEmpty { detail = String(cString: curl_easy_strerror(code)) }
            exchange.failure = failure(code, detail: detail, cancelled: control.cancelled.load(ordering: .relaxed))
        }
        return exchange
    }

    /// Keeps the final answer's `Retry-After` (a new status line starts a new answer).
    private static func readHeader(_ line: [UInt8], into context: Context) {
        let text = String(decoding: line, as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            context.retryAfter = nil
            return
        }
        let prefix = "retry-after:"
        guard text.count > prefix.count, text.prefix(prefix.count).lowercased() == prefix else { return }
        context.retryAfter = trimmed(text.dropFirst(prefix.count))
    }

    /// What a libcurl error means for the payload.
    private static func failure(_ code: CURLcode, detail: String, cancelled: Bool) -> Exchange.Failure {
        switch code {
        case CURLE_ABORTED_BY_CALLBACK where cancelled:
            return .cancelled
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut("The request timed out: \(detail)")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_CRL_BADFILE, CURLE_SSL_INVALIDCERTSTATUS:
            return .tls(
                "TLS certificate verification failed: \(detail). Trust the server's CA with caBundlePath, "
                    + "or fix the server's certificate.")
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .tls("TLS public-key pinning failed: the server's key matches no pinned key (\(detail)).")
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_NOT_BUILT_IN:
            return .permanent("The request cannot be made: \(detail)")
        case CURLE_OUT_OF_MEMORY, CURLE_FAILED_INIT:
            return .local("libcurl failed locally: \(detail)")
        default:
            return .network("The network failed: \(detail)")
        }
    }
}

/// `text` without spaces, tabs and line breaks at either end.
private func trimmed(_ text: Substring) -> String {
    var text = text
    let blanks: Set<Character> = [" ", "\t", "\r", "\n", "\r\n"]
    while let first = text.first, blanks.contains(first) { text.removeFirst() }
    while let last = text.last, blanks.contains(last) { text.removeLast() }
    return String(text)
}
