// HeraldClient: see README.
export class HeraldClient {}
