import Testing

extension Tag {
    /// Tests that take seconds rather than milliseconds (child processes, many rounds).
    @Tag static var slow: Self
}
