import Foundation
@testable import StewardCrash
import Testing

/// The whole envelope for ``SentryFixture/crash`` with its `crashed` session update, byte for
/// byte. The lengths were checked independently (Python: `len(line)` of the UTF-8 bytes: the
/// event line is 2587 bytes but 2582 characters).
@Suite struct SentryGoldenEnvelopeTests {
    static let golden = #"""
        {"dsn":"https://public@o0.ingest.sentry.io/42","event_id":"0123456789abcdef0123456789abcdef","sdk":{"name":"steward","version":"0.1.0"},"sent_at":"2026-11-18T11:07:40.500Z"}
        {"content_type":"application/json","length":2587,"type":"event"}
        {"breadcrumbs":{"values":[{"category":"navigation","data":{"from":"home","screen":"counter"},"level":"info","message":"Zähler geöffnet 🚀","timestamp":"2026-11-18T11:06:39.000Z"},{"category":"scan","level":"warning","message":"slow frame","timestamp":"2026-11-18T11:06:40.000Z"}]},"contexts":{"app":{"app_name":"scanner","app_start_time":"2026-11-18T11:06:37.750Z"},"device":{"arch":"x86_64","model":"ThinkPad X1"},"os":{"kernel_version":"6.1.0-18-amd64","name":"Debian GNU/Linux","version":"12"},"steward":{"handler_ns":48000,"partial":false,"runtime_backtrace_merged":false,"salvage_notes":["frame 3 unreadable"],"seconds_since_start":2.5}},"debug_meta":{"images":[{"code_file":"/usr/bin/scanner","code_id":"f1c3bcc0279865fe3058404b2831d9e64135386c","debug_id":"c0bcc3f1-9827-fe65-3058-404b2831d9e6","image_addr":"0x55d0c0de0000","image_size":131072,"type":"elf"},{"code_file":"/lib/x86_64-linux-gnu/libgcc_s.so.1","code_id":"68220ae2c65d65c1b6aaa12fa6765a6ec2f5f434","debug_id":"e20a2268-5dc6-c165-b6aa-a12fa6765a6e","image_addr":"0x7f5140527000","image_size":90112,"type":"elf"},{"code_file":"/usr/lib/libnobuildid.so","image_addr":"0x7f0000000000","image_size":4096,"type":"elf"}]},"environment":"production","event_id":"0123456789abcdef0123456789abcdef","exception":{"values":[{"mechanism":{"data":{"relevant_address":"0x8"},"handled":false,"meta":{"signal":{"code":1,"code_name":"SEGV_MAPERR","name":"SIGSEGV","number":11}},"synthetic":true,"type":"signalhandler"},"stacktrace":{"frames":[{"image_addr":"0x7f5140527000","instruction_addr":"0x7f5140529d90","package":"/lib/x86_64-linux-gnu/libgcc_s.so.1"},{"function":"main","image_addr":"0x55d0c0de0000","instruction_addr":"0x55d0c0de2000","package":"/usr/bin/scanner"},{"filename":"Scanner.swift","function":"Scanner.crash()","image_addr":"0x55d0c0de0000","instruction_addr":"0x55d0c0de1234","lineno":12,"package":"/usr/bin/scanner","symbol_addr":"0x55d0c0de1200"}],"registers":{"rip":"0x55d0c0de1234","rsp":"0x7ffd12345678"}},"thread_id":4242,"type":"SIGSEGV","value":"Segmentation fault (SEGV_MAPERR) at 0x8"}]},"level":"fatal","platform":"native","release":"scanner@1.4.2","sdk":{"name":"steward","version":"0.1.0"},"tags":{"session_id":"7c7b6585f9014351bf8d02711b721929"},"threads":{"values":[{"crashed":true,"current":true,"id":4242,"name":"main"},{"crashed":false,"current":false,"id":4243,"name":"worker","stacktrace":{"frames":[{"function":"Worker.run()","instruction_addr":"0x55d0c0de3000"},{"function":"poll","instruction_addr":"0x7f5140528000"}]}}]},"timestamp":"2026-11-18T11:06:40.250Z","user":{"id":"d-5f1e0c"}}
        {"length":256,"type":"session"}
        {"attrs":{"environment":"production","release":"scanner@1.4.2"},"did":"d-5f1e0c","duration":2.5,"errors":1,"init":false,"sid":"7c7b6585f9014351bf8d02711b721929","started":"2026-11-18T11:06:37.750Z","status":"crashed","timestamp":"2026-11-18T11:06:40.250Z"}
        """# + "\n"

    func envelope() throws -> SentryEnvelope {
        let report = SentryFixture.crash
        let session = SentrySession.crashed(for: report, started: SentryFixture.launchTime, isInitial: false)
        return SentryEventEncoder().envelope(
            for: report, dsn: try SentryDSN("https://public:secret@o0.ingest.sentry.io/42"),
            sentAt: SentryFixture.sentAt, session: session)
    }

    @Test func envelopeBytesMatchTheGolden() throws {
        let bytes = try envelope().encode()
        #expect(String(decoding: bytes, as: UTF8.self) == Self.golden)
        #expect(bytes == Array(Self.golden.utf8))
    }

    @Test func goldenDecodesFieldByField() throws {
        let decoded = try SentryEnvelope.decode(Array(Self.golden.utf8))
        #expect(decoded == (try envelope()))
        #expect(
            decoded.header == [
                "event_id": "0123456789abcdef0123456789abcdef",
                "dsn": "https://public@o0.ingest.sentry.io/42",
                "sent_at": "2026-11-18T11:07:40.500Z",
                "sdk": ["name": "steward", "version": "0.1.0"],
            ])
        #expect(decoded.items.count == 2)
        #expect(decoded.items[0].header == ["type": "event", "content_type": "application/json"])
        #expect(decoded.items[0].payload.count == 2587)
        #expect(decoded.items[1].header == ["type": "session"])
        #expect(decoded.items[1].payload.count == 256)

        let event = try SentryJSON.parse(decoded.items[0].payload)
        #expect(event == SentryEventEncoder().event(for: SentryFixture.crash))
        #expect(event["event_id"] == decoded.header["event_id"])
        #expect(event["level"] == "fatal")
        #expect(event["platform"] == "native")
        #expect(event["timestamp"] == "2026-11-18T11:06:40.250Z")
        let exception = try #require(event["exception"]?["values"]?[0])
        #expect(exception["type"] == "SIGSEGV")
        #expect(exception["mechanism"]?["meta"]?["signal"]?["number"] == 11)
        let frames = try #require(exception["stacktrace"]?["frames"]?.arrayValue)
        #expect(frames.compactMap { $0["function"]?.stringValue } == ["main", "Scanner.crash()"])
        #expect(event["debug_meta"]?["images"]?[0]?["debug_id"] == "c0bcc3f1-9827-fe65-3058-404b2831d9e6")
        #expect(event["breadcrumbs"]?["values"]?[0]?["message"] == "Zähler geöffnet 🚀")

        let session = try SentryJSON.parse(decoded.items[1].payload)
        #expect(
            session == [
                "sid": "7c7b6585f9014351bf8d02711b721929",
                "did": "d-5f1e0c",
                "init": false,
                "started": "2026-11-18T11:06:37.750Z",
                "timestamp": "2026-11-18T11:06:40.250Z",
                "status": "crashed",
                "errors": 1,
                "duration": 2.5,
                "attrs": ["release": "scanner@1.4.2", "environment": "production"],
            ])
    }

    @Test func everyItemLengthEqualsItsPayloadByteCount() throws {
        let bytes = Array(Self.golden.utf8)
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        #expect(lines.count == 6)
        #expect(lines[5].isEmpty)
        for (headerLine, payloadLine) in [(lines[1], lines[2]), (lines[3], lines[4])] {
            let header = try SentryJSON.parse(headerLine)
            #expect(header["length"] == .int(Int64(payloadLine.count)))
        }
    }
}
