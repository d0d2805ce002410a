/**
 * Deploying Ocean and PostHuman, and the address books: exported by the package as `posthuman/deploy`. Node only
 * (address books are files).
 */
export * from "./deploy";
export * from "./posthuman";
export * from "./address-book";
