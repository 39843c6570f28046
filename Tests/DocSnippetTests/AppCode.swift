import StewardPermissions

// What the documentation's snippets assume the app itself has written: its own permission
// dialog, its own screens, its own test helpers. The snippets (Generated/) call these.

/// The app's permission dialog (GettingStarted.md).
struct MyDialogPrompter: PermissionPrompter {
    func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer { .deny }
}

/// The app opens its camera screen (Permissions.md).
func openCamera() {}

/// The app shows a message (Permissions.md).
func show(_ message: String) {}

/// A test helper: `bytes` with one bit flipped (Testing.md).
func flipBit(in bytes: [UInt8], at bit: Int) -> [UInt8] {
    var copy = bytes
    copy[bit / 8] ^= 1 << UInt8(bit % 8)
    return copy
}

/// The parser under test (Testing.md).
func decode(_ bytes: [UInt8]) throws {}
