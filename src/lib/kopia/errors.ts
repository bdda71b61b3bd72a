import {HomelabError} from '../errors.js'

/** Kopia printed something the CLI cannot read (not JSON, or not the shape kopia 0.23 prints). Exit 1. */
export class KopiaOutputError extends HomelabError {}
