/** The type `partition.os` has: declared apart from the operator contract, so the public types stay this small. */

/**
 * A partition OS's operator endpoint as `partition.os` shows it: every method of `Api` returns a
 * promise of its result, because the call crosses to the partition's thread. Declared here rather
 * than taken from comlink so that the published types never reach comlink's DOM-flavoured ones.
 * Untyped (`Api` = any) it is `any`: every name is callable; a test that knows its replacement OS's api types
 * it with `machine.partition(2).os as OsEndpoint<MyOsApi>`.
 */
export type OsEndpoint<Api = any> = 0 extends 1 & Api
  ? any
  : { readonly [K in keyof Api]: Api[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : Promise<Awaited<Api[K]>> };
