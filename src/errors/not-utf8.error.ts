/** A verified body that is not UTF-8, which the module's JSON and form parsers refuse (`utf8Text`). */
export class NotUtf8Error extends Error {
  override readonly name = 'NotUtf8Error';
}
